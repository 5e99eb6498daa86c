/**
 * What commands reach the world through: the terminal, the config folder, Cognito, the API and the
 * clock. `main.ts` wires the real ones; tests pass fakes.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { OperatorApiClient } from '../operator-client/operator-api-client';
import { type CognitoAuth, FetchCognitoAuth } from './cognito';
import { ConfigStore, configDir, type Profile } from './config';
import type { Output, Terminal } from './output';
import type { Credentials, Prompter, Session } from './session';

export interface CliContext {
  readonly env: NodeJS.ProcessEnv;
  readonly terminal: Terminal;
  readonly store: ConfigStore;
  readonly cognitoFor: (profile: Profile) => CognitoAuth;
  readonly prompter: Prompter;
  /** Reads all of stdin (for --password-stdin). */
  readonly readStdin: () => Promise<string>;
  readonly apiFor: (credentials: Credentials) => OperatorApiClient;
  readonly now: () => Date;
  readonly sleep: (ms: number) => Promise<void>;
  /** Aborted at Ctrl-C. */
  readonly signal: AbortSignal;
}

/** What a command's action gets: the context, its output and the signed-in session. */
export interface CommandScope {
  readonly ctx: CliContext;
  readonly out: Output;
  readonly session: Session;
  /** An API client with a token that is valid now (refreshed when near expiry). */
  api(): Promise<OperatorApiClient>;
}

export function defaultContext(options: {
  terminal: Terminal;
  prompter: Prompter;
  readStdin: () => Promise<string>;
  signal: AbortSignal;
  env?: NodeJS.ProcessEnv;
}): CliContext {
  const env = options.env ?? process.env;
  return {
    env,
    terminal: options.terminal,
    store: new ConfigStore(configDir(env)),
    cognitoFor: (profile) => new FetchCognitoAuth(profile.region, profile.cognitoEndpoint),
    prompter: options.prompter,
    readStdin: options.readStdin,
    apiFor: (credentials) => new OperatorApiClient(credentials.apiUrl, credentials.token),
    now: () => new Date(),
    sleep: (ms) => sleep(ms, undefined, { signal: options.signal }),
    signal: options.signal,
  };
}
