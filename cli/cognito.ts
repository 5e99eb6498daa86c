/**
 * The few Cognito user-pool calls a sign-in needs. They are public operations (no AWS
 * credentials: the app client id and the user's password or refresh token are the proof), so a
 * JSON POST is all it takes, and the port lets tests answer as Cognito would.
 */

export interface AuthenticationResult {
  readonly IdToken: string;
  readonly AccessToken: string;
  /** Absent when refreshing: the refresh token stays the same. */
  readonly RefreshToken?: string;
  readonly ExpiresIn: number;
}

/** What InitiateAuth and RespondToAuthChallenge answer: tokens, or the next challenge. */
export interface AuthAnswer {
  readonly AuthenticationResult?: AuthenticationResult;
  readonly ChallengeName?: string;
  readonly Session?: string;
  readonly ChallengeParameters?: Readonly<Record<string, string>>;
}

export interface CognitoAuth {
  initiateAuth(input: {
    ClientId: string;
    AuthFlow: 'USER_SRP_AUTH' | 'USER_PASSWORD_AUTH' | 'REFRESH_TOKEN_AUTH';
    AuthParameters: Record<string, string>;
  }): Promise<AuthAnswer>;
  respondToAuthChallenge(input: {
    ClientId: string;
    ChallengeName: string;
    Session?: string;
    ChallengeResponses: Record<string, string>;
  }): Promise<AuthAnswer>;
  /** MFA_SETUP: a TOTP secret for the user to add to an authenticator app. */
  associateSoftwareToken(input: { Session: string }): Promise<{ SecretCode: string; Session?: string }>;
  verifySoftwareToken(input: {
    Session: string;
    UserCode: string;
    FriendlyDeviceName?: string;
  }): Promise<{ Status: 'SUCCESS' | 'ERROR'; Session?: string }>;
  revokeToken(input: { ClientId: string; Token: string }): Promise<void>;
}

/** Cognito refused: `type` is its exception name (NotAuthorizedException, CodeMismatchException, …). */
export class CognitoError extends Error {
  override readonly name = 'CognitoError';
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

/** Cognito's JSON 1.1 API over fetch, at AWS's regional endpoint or the given one (local AWS). */
export class FetchCognitoAuth implements CognitoAuth {
  readonly endpoint: string;

  constructor(region: string, endpoint?: string) {
    this.endpoint = endpoint ?? `https://cognito-idp.${region}.amazonaws.com/`;
  }

  initiateAuth(input: Parameters<CognitoAuth['initiateAuth']>[0]) {
    return this.#call<AuthAnswer>('InitiateAuth', input);
  }
  respondToAuthChallenge(input: Parameters<CognitoAuth['respondToAuthChallenge']>[0]) {
    return this.#call<AuthAnswer>('RespondToAuthChallenge', input);
  }
  associateSoftwareToken(input: { Session: string }) {
    return this.#call<{ SecretCode: string; Session?: string }>('AssociateSoftwareToken', input);
  }
  verifySoftwareToken(input: Parameters<CognitoAuth['verifySoftwareToken']>[0]) {
    return this.#call<{ Status: 'SUCCESS' | 'ERROR'; Session?: string }>('VerifySoftwareToken', input);
  }
  async revokeToken(input: { ClientId: string; Token: string }) {
    await this.#call('RevokeToken', input);
  }

  async #call<T>(operation: string, body: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(this.endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-amz-json-1.1',
          'x-amz-target': `AWSCognitoIdentityProviderService.${operation}`,
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (error as Error).message;
      throw new CognitoError('NetworkError', `cannot reach Cognito at ${this.endpoint} (${why})`);
    }
    const text = await response.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      throw new CognitoError('InvalidResponse', `Cognito answered ${response.status} with no JSON`);
    }
    if (!response.ok) {
      const type =
        String(parsed.__type ?? parsed.code ?? `HTTP${response.status}`)
          .split('#')
          .pop() ?? '';
      throw new CognitoError(type, String(parsed.message ?? parsed.Message ?? `HTTP ${response.status}`));
    }
    return parsed as T;
  }
}
