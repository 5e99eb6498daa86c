/** A CLI context with captured output, a config folder in tmp, a scripted Cognito and no network. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished, vi } from 'vitest';
import type { AuthAnswer, CognitoAuth } from '../../cli/cognito';
import { ConfigStore } from '../../cli/config';
import type { CliContext } from '../../cli/context';
import { runCli } from '../../cli/program';
import type { Prompter } from '../../cli/session';
import { OperatorApiClient } from '../../operator-client/operator-api-client';

/** A folder in tmp, removed when the test ends. */
export function temporaryDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A JWT whose payload holds `claims` (unsigned: the CLI only reads `exp` and names). */
export function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part(claims)}.sig`;
}

export const tokensAnswer = (expiresAt: Date, username = 'alice', refresh = true): AuthAnswer => ({
  AuthenticationResult: {
    IdToken: fakeJwt({
      exp: Math.floor(expiresAt.getTime() / 1000),
      'cognito:username': username,
      'cognito:groups': ['operator'],
    }),
    AccessToken: fakeJwt({ exp: Math.floor(expiresAt.getTime() / 1000) }),
    ...(refresh ? { RefreshToken: `refresh-${username}` } : {}),
    ExpiresIn: 3600,
  },
});

/** Records every call; answers from the queues given (a thrown Error is thrown). */
export class ScriptedCognito implements CognitoAuth {
  readonly calls: { op: string; input: unknown }[] = [];
  constructor(private readonly answers: Record<string, (AuthAnswer | Error | Record<string, unknown>)[]>) {}
  #next(op: string, input: unknown) {
    this.calls.push({ op, input });
    const answer = this.answers[op]?.shift();
    if (!answer) throw new Error(`unexpected Cognito call ${op}`);
    if (answer instanceof Error) throw answer;
    return Promise.resolve(answer);
  }
  initiateAuth(input: Parameters<CognitoAuth['initiateAuth']>[0]) {
    return this.#next('initiateAuth', input) as Promise<AuthAnswer>;
  }
  respondToAuthChallenge(input: Parameters<CognitoAuth['respondToAuthChallenge']>[0]) {
    return this.#next('respondToAuthChallenge', input) as Promise<AuthAnswer>;
  }
  associateSoftwareToken(input: { Session: string }) {
    return this.#next('associateSoftwareToken', input) as Promise<{ SecretCode: string; Session?: string }>;
  }
  verifySoftwareToken(input: Parameters<CognitoAuth['verifySoftwareToken']>[0]) {
    return this.#next('verifySoftwareToken', input) as Promise<{
      Status: 'SUCCESS' | 'ERROR';
      Session?: string;
    }>;
  }
  async revokeToken(input: { ClientId: string; Token: string }) {
    await this.#next('revokeToken', input);
  }
}

/** Answers questions from a list, in order, and keeps what it was asked and told. */
export class ScriptedPrompter implements Prompter {
  readonly asked: string[] = [];
  readonly told: string[] = [];
  constructor(private readonly answers: string[] = []) {}
  ask(question: string) {
    this.asked.push(question);
    const answer = this.answers.shift();
    return answer === undefined
      ? Promise.reject(new Error(`unexpected question ${question}`))
      : Promise.resolve(answer);
  }
  say(line: string) {
    this.told.push(line);
  }
}

export type Route = (request: {
  method: string;
  path: string;
  body: unknown;
  headers: Headers;
}) => { status: number; body?: unknown } | undefined;

export interface FakeCli {
  readonly ctx: CliContext;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly requests: { method: string; path: string; body: unknown; authorization: string | null }[];
  run(...argv: string[]): Promise<number>;
}

export const API_URL = 'https://api.example.test/v1/';

/**
 * A CLI whose API answers through `routes` (first that answers wins; else 404), signed in with a
 * token valid for an hour unless `signedIn` is false.
 */
export async function fakeCli(
  options: {
    routes?: Route[];
    cognito?: CognitoAuth;
    prompter?: Prompter;
    env?: NodeJS.ProcessEnv;
    tty?: boolean;
    signedIn?: boolean;
    now?: () => Date;
    stdin?: string;
  } = {},
): Promise<FakeCli> {
  let out = '';
  let err = '';
  const requests: FakeCli['requests'] = [];
  const now = options.now ?? (() => new Date('2026-11-28T10:00:00Z'));
  const store = new ConfigStore(temporaryDir('edgeops-cli-test-'));
  if (options.signedIn !== false) {
    await store.saveProfile('default', {
      apiUrl: API_URL,
      clientId: 'client-1',
      region: 'eu-west-1',
      username: 'alice',
    });
    const answer = tokensAnswer(new Date(now().getTime() + 3600_000)).AuthenticationResult;
    await store.saveTokens('default', {
      username: 'alice',
      idToken: answer?.IdToken ?? '',
      accessToken: answer?.AccessToken ?? '',
      refreshToken: 'refresh-alice',
      idTokenExpiresAt: new Date(now().getTime() + 3600_000).toISOString(),
    });
  }
  const fetchFake: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const path = url.href.slice(API_URL.length);
    const headers = new Headers(init?.headers);
    const body = init?.body ? JSON.parse(String(init.body)) : undefined;
    const method = init?.method ?? 'GET';
    requests.push({ method, path, body, authorization: headers.get('authorization') });
    for (const route of options.routes ?? []) {
      const answer = route({ method, path, body, headers });
      if (answer)
        return new Response(answer.body === undefined ? '' : JSON.stringify(answer.body), {
          status: answer.status,
        });
    }
    return new Response(JSON.stringify({ message: `no route ${method} ${path}` }), { status: 404 });
  };
  const ctx: CliContext = {
    env: options.env ?? {},
    terminal: {
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (err += t) },
      stdoutIsTty: options.tty ?? false,
      stderrIsTty: options.tty ?? false,
      columns: 200,
    },
    store,
    cognitoFor: () => options.cognito ?? new ScriptedCognito({}),
    prompter: options.prompter ?? new ScriptedPrompter(),
    readStdin: async () => options.stdin ?? '',
    apiFor: (credentials) => new OperatorApiClient(credentials.apiUrl, credentials.token),
    now,
    sleep: async () => {},
    signal: new AbortController().signal,
  };
  // The client calls the global fetch; tests undo this with vi.unstubAllGlobals().
  vi.stubGlobal('fetch', fetchFake);
  return {
    ctx,
    stdout: () => out,
    stderr: () => err,
    requests,
    run: (...argv) => runCli(argv, ctx),
  };
}
