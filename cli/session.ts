/**
 * Signing in and staying signed in. `signIn` walks Cognito's USER_PASSWORD_AUTH flow and answers
 * the challenges a pool may set (a new password, a TOTP or SMS code, TOTP enrolment) at the
 * prompt. `Session` hands each command a valid ID token: the cached one, or, within
 * `refreshMarginMs` of its expiry, a new one from the refresh token, written back to the cache.
 */
import { type AuthAnswer, type CognitoAuth, CognitoError } from './cognito';
import type { CachedTokens, ConfigStore, Profile } from './config';
import { CliError, ExitCode } from './errors';
import { passwordClaim, srpEphemeral } from './srp';

/** Asks the person at the terminal; `secret` input is not echoed. */
export interface Prompter {
  ask(question: string, options?: { secret?: boolean }): Promise<string>;
  /** A line for the person (stderr, so it never mixes with --json output). */
  say(line: string): void;
}

/** The expiry (`exp`) of a JWT; the CLI does not verify tokens, the API's authorizer does. */
export function tokenExpiry(jwt: string): Date {
  const payload = jwt.split('.')[1];
  if (!payload) throw new CliError('Cognito returned a token that is not a JWT', ExitCode.auth);
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
  if (typeof claims.exp !== 'number') throw new CliError('the ID token has no expiry', ExitCode.auth);
  return new Date(claims.exp * 1000);
}

/** The claims worth showing: who, and in which groups (roles). */
export function tokenIdentity(jwt: string): { username: string; groups: string[] } {
  const payload = jwt.split('.')[1] ?? '';
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  const groups = claims['cognito:groups'];
  return {
    username: String(claims['cognito:username'] ?? claims.email ?? claims.sub ?? 'unknown'),
    groups: Array.isArray(groups) ? groups.map(String) : typeof groups === 'string' ? [groups] : [],
  };
}

const MAX_CHALLENGES = 6;

function refused(error: unknown): never {
  if (error instanceof CognitoError) {
    const code =
      error.type === 'NotAuthorizedException' || error.type === 'UserNotFoundException'
        ? ExitCode.auth
        : error.type === 'CodeMismatchException' || error.type === 'ExpiredCodeException'
          ? ExitCode.auth
          : error.type === 'InvalidPasswordException' || error.type === 'InvalidParameterException'
            ? ExitCode.usage
            : ExitCode.failure;
    if (error.type === 'NetworkError')
      throw new CliError(`sign-in failed: ${error.message}`, ExitCode.failure);
    throw new CliError(`sign-in refused: ${error.message} (${error.type})`, code);
  }
  throw error;
}

/**
 * USER_SRP_AUTH (with `srp`: the password never leaves this machine) or USER_PASSWORD_AUTH, then
 * each challenge Cognito sets until it answers with tokens:
 * 0. PASSWORD_VERIFIER (SRP): the proof that we know the password;
 * 1. NEW_PASSWORD_REQUIRED (an admin-created user's first sign-in): a new password, typed twice;
 * 2. SOFTWARE_TOKEN_MFA / SMS_MFA / EMAIL_OTP: the code;
 * 3. SELECT_MFA_TYPE: which factor to use;
 * 4. MFA_SETUP (the pool requires MFA and the user has none): a TOTP secret to add to an
 *    authenticator app, then a code from it.
 * Anything else is refused by name rather than guessed at.
 */
export async function signIn(input: {
  cognito: CognitoAuth;
  clientId: string;
  username: string;
  password: string;
  prompter: Prompter;
  /** Sign in with SRP; the pool id names the pool in the proof. */
  srp?: { readonly userPoolId: string; readonly now?: () => Date };
}): Promise<CachedTokens> {
  const { cognito, clientId, prompter, srp } = input;
  let username = input.username;
  const ephemeral = srp ? srpEphemeral() : undefined;
  let answer: AuthAnswer;
  try {
    answer = await cognito.initiateAuth(
      ephemeral
        ? {
            ClientId: clientId,
            AuthFlow: 'USER_SRP_AUTH',
            AuthParameters: { USERNAME: username, SRP_A: ephemeral.A },
          }
        : {
            ClientId: clientId,
            AuthFlow: 'USER_PASSWORD_AUTH',
            AuthParameters: { USERNAME: username, PASSWORD: input.password },
          },
    );
  } catch (error) {
    refused(error);
  }
  for (let round = 0; round < MAX_CHALLENGES; round++) {
    if (answer.AuthenticationResult) {
      const result = answer.AuthenticationResult;
      if (!result.RefreshToken) throw new CliError('Cognito returned no refresh token', ExitCode.auth);
      return {
        username,
        idToken: result.IdToken,
        accessToken: result.AccessToken,
        refreshToken: result.RefreshToken,
        idTokenExpiresAt: tokenExpiry(result.IdToken).toISOString(),
      };
    }
    const challenge = answer.ChallengeName;
    const session = answer.Session;
    if (!challenge) throw new CliError('Cognito answered with neither tokens nor a challenge', ExitCode.auth);
    // Cognito may name the user by its internal id from here on (sign-in by e-mail alias).
    username = answer.ChallengeParameters?.USER_ID_FOR_SRP ?? username;
    // AWS may answer USER_SRP_AUTH's PASSWORD_VERIFIER without a session; the others carry one.
    const respond = (responses: Record<string, string>, name = challenge, withSession = session) =>
      cognito.respondToAuthChallenge({
        ClientId: clientId,
        ChallengeName: name,
        ...(withSession ? { Session: withSession } : {}),
        ChallengeResponses: { USERNAME: username, ...responses },
      });
    try {
      switch (challenge) {
        case 'PASSWORD_VERIFIER': {
          const p = answer.ChallengeParameters ?? {};
          if (!srp || !ephemeral || !p.SALT || !p.SRP_B || !p.SECRET_BLOCK)
            throw new CliError('Cognito asked for an SRP proof this sign-in did not start', ExitCode.auth);
          answer = await respond(
            passwordClaim({
              userPoolId: srp.userPoolId,
              userId: username,
              password: input.password,
              a: ephemeral.a,
              A: ephemeral.A,
              salt: p.SALT,
              B: p.SRP_B,
              secretBlock: p.SECRET_BLOCK,
              now: srp.now?.() ?? new Date(),
            }),
          );
          break;
        }
        case 'NEW_PASSWORD_REQUIRED': {
          prompter.say('A new password is required.');
          const first = await prompter.ask('New password: ', { secret: true });
          const again = await prompter.ask('New password again: ', { secret: true });
          if (first !== again) throw new CliError('the two passwords differ', ExitCode.usage);
          answer = await respond({ NEW_PASSWORD: first });
          break;
        }
        case 'SOFTWARE_TOKEN_MFA': {
          const code = await prompter.ask('Code from your authenticator app: ');
          answer = await respond({ SOFTWARE_TOKEN_MFA_CODE: code.trim() });
          break;
        }
        case 'SMS_MFA': {
          const to = answer.ChallengeParameters?.CODE_DELIVERY_DESTINATION ?? 'your phone';
          const code = await prompter.ask(`Code sent by SMS to ${to}: `);
          answer = await respond({ SMS_MFA_CODE: code.trim() });
          break;
        }
        case 'EMAIL_OTP': {
          const to = answer.ChallengeParameters?.CODE_DELIVERY_DESTINATION ?? 'your e-mail';
          const code = await prompter.ask(`Code sent to ${to}: `);
          answer = await respond({ EMAIL_OTP_CODE: code.trim() });
          break;
        }
        case 'SELECT_MFA_TYPE': {
          const choices = JSON.parse(answer.ChallengeParameters?.MFAS_CAN_CHOOSE ?? '[]') as string[];
          const pick = (await prompter.ask(`Second factor (${choices.join(' or ')}): `)).trim();
          if (!choices.includes(pick))
            throw new CliError(`choose one of ${choices.join(', ')}`, ExitCode.usage);
          answer = await respond({ ANSWER: pick });
          break;
        }
        case 'MFA_SETUP': {
          if (!session) throw new CliError('Cognito asked to set up MFA without a session', ExitCode.auth);
          const associated = await cognito.associateSoftwareToken({ Session: session });
          prompter.say('This pool requires MFA. Add this key to an authenticator app (TOTP):');
          prompter.say(`  ${associated.SecretCode}`);
          prompter.say(
            `  otpauth://totp/EdgeOps:${encodeURIComponent(username)}?secret=${associated.SecretCode}&issuer=EdgeOps`,
          );
          const code = await prompter.ask('Code from your authenticator app: ');
          const verified = await cognito.verifySoftwareToken({
            Session: associated.Session ?? session,
            UserCode: code.trim(),
            FriendlyDeviceName: 'edgeops-cli',
          });
          if (verified.Status !== 'SUCCESS') throw new CliError('the code did not verify', ExitCode.auth);
          answer = await respond({}, 'MFA_SETUP', verified.Session ?? associated.Session ?? session);
          break;
        }
        default:
          throw new CliError(
            `Cognito asks for ${challenge}, which edgeops login cannot answer`,
            ExitCode.auth,
          );
      }
    } catch (error) {
      refused(error);
    }
  }
  throw new CliError(`sign-in did not finish after ${MAX_CHALLENGES} challenges`, ExitCode.auth);
}

/** What a command needs to call the API. */
export interface Credentials {
  readonly apiUrl: string;
  readonly token: string;
}

/**
 * The current profile's credentials. `EDGEOPS_TOKEN` (with `EDGEOPS_API_URL` or the profile's URL)
 * wins, for scripts that sign in by other means; it is used as given, never refreshed.
 */
export class Session {
  readonly #store: ConfigStore;
  readonly #profileName: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #cognitoFor: (profile: Profile) => CognitoAuth;
  readonly #now: () => Date;
  readonly #refreshMarginMs: number;

  constructor(options: {
    store: ConfigStore;
    profileName: string;
    env?: NodeJS.ProcessEnv;
    cognitoFor: (profile: Profile) => CognitoAuth;
    now?: () => Date;
    /** Refresh when the ID token has less than this left. @default 5 minutes */
    refreshMarginMs?: number;
  }) {
    this.#store = options.store;
    this.#profileName = options.profileName;
    this.#env = options.env ?? process.env;
    this.#cognitoFor = options.cognitoFor;
    this.#now = options.now ?? (() => new Date());
    this.#refreshMarginMs = options.refreshMarginMs ?? 5 * 60_000;
  }

  get profileName() {
    return this.#profileName;
  }

  async profile(): Promise<Profile | undefined> {
    return this.#store.profile(this.#profileName);
  }

  /** A token valid for at least the refresh margin, refreshing (and caching) it when needed. */
  async credentials(): Promise<Credentials> {
    const envToken = this.#env.EDGEOPS_TOKEN;
    const profile = await this.profile();
    if (envToken) {
      const apiUrl = this.#env.EDGEOPS_API_URL ?? profile?.apiUrl;
      if (!apiUrl)
        throw new CliError('EDGEOPS_TOKEN is set but no API URL: set EDGEOPS_API_URL', ExitCode.usage);
      return { apiUrl: withSlash(apiUrl), token: envToken };
    }
    if (!profile)
      throw new CliError(
        `not signed in (profile '${this.#profileName}'): run edgeops login --api-url <url> --client-id <id>`,
        ExitCode.auth,
      );
    const tokens = await this.#store.tokens(this.#profileName);
    if (!tokens)
      throw new CliError(`not signed in (profile '${this.#profileName}'): run edgeops login`, ExitCode.auth);
    const left = new Date(tokens.idTokenExpiresAt).getTime() - this.#now().getTime();
    if (left > this.#refreshMarginMs)
      return { apiUrl: withSlash(this.#env.EDGEOPS_API_URL ?? profile.apiUrl), token: tokens.idToken };
    const refreshed = await this.#refresh(profile, tokens);
    return { apiUrl: withSlash(this.#env.EDGEOPS_API_URL ?? profile.apiUrl), token: refreshed.idToken };
  }

  async #refresh(profile: Profile, tokens: CachedTokens): Promise<CachedTokens> {
    let answer: AuthAnswer;
    try {
      answer = await this.#cognitoFor(profile).initiateAuth({
        ClientId: profile.clientId,
        AuthFlow: 'REFRESH_TOKEN_AUTH',
        AuthParameters: { REFRESH_TOKEN: tokens.refreshToken },
      });
    } catch (error) {
      if (error instanceof CognitoError && error.type === 'NotAuthorizedException')
        throw new CliError(`session expired (${error.message}): run edgeops login`, ExitCode.auth);
      throw error;
    }
    const result = answer.AuthenticationResult;
    if (!result)
      throw new CliError(
        `session refresh asked for ${answer.ChallengeName}: run edgeops login`,
        ExitCode.auth,
      );
    const next: CachedTokens = {
      username: tokens.username,
      idToken: result.IdToken,
      accessToken: result.AccessToken,
      // Cognito returns a new refresh token only when the app client rotates them.
      refreshToken: result.RefreshToken ?? tokens.refreshToken,
      idTokenExpiresAt: tokenExpiry(result.IdToken).toISOString(),
    };
    await this.#store.saveTokens(this.#profileName, next);
    return next;
  }
}

export const withSlash = (url: string) => (url.endsWith('/') ? url : `${url}/`);
