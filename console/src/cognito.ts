/**
 * Cognito user-pool sign-in over its JSON API (`cognito-idp`), with fetch and nothing else: the
 * same calls the SDK makes, without the SDK's weight in a browser bundle. The flow is
 * USER_PASSWORD_AUTH (the app client allows it; the password goes over TLS to Cognito only) and
 * each challenge the pool can answer with: a new password for an admin-created user, TOTP setup
 * the first time when the pool requires MFA, and the TOTP code after that.
 */

export interface Tokens {
  readonly idToken: string;
  readonly accessToken: string;
  readonly refreshToken: string;
  /** Epoch ms when the ID token expires (from its `exp` claim). */
  readonly expiresAt: number;
}

/** Where a sign-in stands: done, or which answer Cognito wants next. */
export type SignInStep =
  | { readonly kind: 'signed-in'; readonly tokens: Tokens }
  | { readonly kind: 'new-password'; readonly username: string; readonly session: string }
  | { readonly kind: 'mfa-code'; readonly username: string; readonly session: string }
  | {
      readonly kind: 'mfa-setup';
      readonly username: string;
      readonly session: string;
      /** Base32 TOTP secret to enter in an authenticator app. */
      readonly secretCode: string;
    };

/** Cognito said no: `code` is its exception name (NotAuthorizedException, CodeMismatchException …). */
export class CognitoError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface AuthResponse {
  AuthenticationResult?: { IdToken?: string; AccessToken?: string; RefreshToken?: string };
  ChallengeName?: string;
  ChallengeParameters?: Record<string, string>;
  Session?: string;
}

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

/** The `exp`/claims of a JWT, read without verifying: the API verifies; the console only displays. */
export function jwtClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1];
  if (!payload) throw new CognitoError('InvalidToken', 'The token is not a JWT');
  const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
  const bytes = Uint8Array.from(atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, '=')), (c) =>
    c.charCodeAt(0),
  );
  return JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
}

export class CognitoClient {
  readonly #endpoint: string;
  readonly #clientId: string;
  readonly #fetch: Fetch;

  /** @param endpoint `https://cognito-idp.<region>.amazonaws.com/`, or a local proxy of it */
  constructor(endpoint: string, clientId: string, fetchImpl: Fetch = (input, init) => fetch(input, init)) {
    this.#endpoint = endpoint;
    this.#clientId = clientId;
    this.#fetch = fetchImpl;
  }

  async signIn(username: string, password: string): Promise<SignInStep> {
    const response = await this.#call<AuthResponse>('InitiateAuth', {
      ClientId: this.#clientId,
      AuthFlow: 'USER_PASSWORD_AUTH',
      AuthParameters: { USERNAME: username, PASSWORD: password },
    });
    return this.#next(username, response);
  }

  async setNewPassword(step: { username: string; session: string }, newPassword: string) {
    return this.#respond('NEW_PASSWORD_REQUIRED', step, { NEW_PASSWORD: newPassword });
  }

  async answerMfaCode(step: { username: string; session: string }, code: string) {
    return this.#respond('SOFTWARE_TOKEN_MFA', step, { SOFTWARE_TOKEN_MFA_CODE: code });
  }

  /** Proves the authenticator app holds the secret, then finishes the MFA_SETUP challenge. */
  async verifyMfaSetup(step: { username: string; session: string }, code: string): Promise<SignInStep> {
    const verified = await this.#call<{ Status?: string; Session?: string }>('VerifySoftwareToken', {
      Session: step.session,
      UserCode: code,
      FriendlyDeviceName: 'EdgeOps console',
    });
    if (verified.Status !== 'SUCCESS')
      throw new CognitoError('CodeMismatchException', 'The code from the authenticator app was not accepted');
    return this.#respond('MFA_SETUP', { ...step, session: verified.Session ?? step.session }, {});
  }

  /** New ID and access tokens from the refresh token (which Cognito keeps unless it rotates it). */
  async refresh(tokens: Tokens): Promise<Tokens> {
    const response = await this.#call<AuthResponse>('InitiateAuth', {
      ClientId: this.#clientId,
      AuthFlow: 'REFRESH_TOKEN_AUTH',
      AuthParameters: { REFRESH_TOKEN: tokens.refreshToken },
    });
    return toTokens(response, tokens.refreshToken);
  }

  /** Revokes the refresh token (and the tokens issued from it), as signing out should. */
  async revoke(tokens: Tokens): Promise<void> {
    await this.#call('RevokeToken', { ClientId: this.#clientId, Token: tokens.refreshToken });
  }

  async #respond(
    challenge: string,
    step: { username: string; session: string },
    answers: Record<string, string>,
  ): Promise<SignInStep> {
    const response = await this.#call<AuthResponse>('RespondToAuthChallenge', {
      ClientId: this.#clientId,
      ChallengeName: challenge,
      Session: step.session,
      ChallengeResponses: { USERNAME: step.username, ...answers },
    });
    return this.#next(step.username, response);
  }

  async #next(username: string, response: AuthResponse): Promise<SignInStep> {
    if (response.AuthenticationResult) return { kind: 'signed-in', tokens: toTokens(response) };
    // Signing in with an email alias: the challenges want the pool's user name.
    const user = response.ChallengeParameters?.USER_ID_FOR_SRP ?? username;
    const session = response.Session ?? '';
    switch (response.ChallengeName) {
      case 'NEW_PASSWORD_REQUIRED':
        return { kind: 'new-password', username: user, session };
      case 'SOFTWARE_TOKEN_MFA':
        return { kind: 'mfa-code', username: user, session };
      case 'SELECT_MFA_TYPE':
        return this.#respond(
          'SELECT_MFA_TYPE',
          { username: user, session },
          { ANSWER: 'SOFTWARE_TOKEN_MFA' },
        );
      case 'MFA_SETUP': {
        const associated = await this.#call<{ SecretCode?: string; Session?: string }>(
          'AssociateSoftwareToken',
          { Session: session },
        );
        if (!associated.SecretCode)
          throw new CognitoError('MfaSetupFailed', 'Cognito gave no authenticator secret');
        return {
          kind: 'mfa-setup',
          username: user,
          session: associated.Session ?? session,
          secretCode: associated.SecretCode,
        };
      }
      default:
        throw new CognitoError(
          'UnsupportedChallenge',
          `Sign-in needs ${response.ChallengeName ?? 'an unknown step'}, which the console cannot answer; use the CLI`,
        );
    }
  }

  async #call<T>(operation: string, body: unknown): Promise<T> {
    let response: Response;
    try {
      response = await this.#fetch(this.#endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
        },
        body: JSON.stringify(body),
      });
    } catch {
      throw new CognitoError('NetworkError', 'Cannot reach the sign-in service');
    }
    const text = await response.text();
    let parsed: T & { __type?: string; message?: string; Message?: string };
    try {
      parsed = (text ? JSON.parse(text) : {}) as typeof parsed;
    } catch {
      throw new CognitoError('BadResponse', `The sign-in service answered ${response.status} without JSON`);
    }
    if (!response.ok) {
      const code = (parsed.__type ?? 'CognitoError').split('#').pop() ?? 'CognitoError';
      throw new CognitoError(code, parsed.message ?? parsed.Message ?? `Sign-in failed (${response.status})`);
    }
    return parsed;
  }
}

function toTokens(response: AuthResponse, previousRefreshToken?: string): Tokens {
  const result = response.AuthenticationResult;
  const refreshToken = result?.RefreshToken ?? previousRefreshToken;
  if (!result?.IdToken || !result.AccessToken || !refreshToken)
    throw new CognitoError('IncompleteTokens', 'Cognito returned no complete set of tokens');
  const exp = jwtClaims(result.IdToken).exp;
  if (typeof exp !== 'number') throw new CognitoError('InvalidToken', 'The ID token carries no expiry');
  return { idToken: result.IdToken, accessToken: result.AccessToken, refreshToken, expiresAt: exp * 1000 };
}
