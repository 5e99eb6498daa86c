import { type OperatorRole, strongestRole } from '../../functions/domain/operator-role';
import { type CognitoClient, jwtClaims, type Tokens } from './cognito';

/** Refresh this long before the ID token expires, so no request goes out with a stale one. */
const REFRESH_MARGIN_MS = 5 * 60_000;
const STORAGE_KEY = 'edgeops.console.session';

/** The part of the Web Storage API the session uses (sessionStorage in the browser). */
export interface TokenStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * The signed-in operator's tokens: kept in memory and in the tab's sessionStorage (gone when the
 * tab closes; never localStorage, which every tab and later visit would share), refreshed with
 * the refresh token shortly before the ID token expires.
 */
export class Session {
  #tokens: Tokens | undefined;
  #refreshing: Promise<Tokens> | undefined;

  constructor(
    private readonly cognito: CognitoClient,
    private readonly storage: TokenStorage | undefined,
    private readonly now: () => number = Date.now,
  ) {
    const saved = storage?.getItem(STORAGE_KEY);
    if (saved) {
      try {
        this.#tokens = JSON.parse(saved) as Tokens;
      } catch {
        storage?.removeItem(STORAGE_KEY);
      }
    }
  }

  get signedIn(): boolean {
    return this.#tokens !== undefined;
  }

  /** The strongest of the operator's roles, from the ID token's `cognito:groups`. */
  get role(): OperatorRole | undefined {
    const groups = this.#claims()?.['cognito:groups'];
    return strongestRole(Array.isArray(groups) ? groups.map(String) : []);
  }

  get username(): string | undefined {
    const claims = this.#claims();
    const name = claims?.['cognito:username'] ?? claims?.email;
    return typeof name === 'string' ? name : undefined;
  }

  start(tokens: Tokens): void {
    this.#tokens = tokens;
    this.storage?.setItem(STORAGE_KEY, JSON.stringify(tokens));
  }

  end(): void {
    this.#tokens = undefined;
    this.storage?.removeItem(STORAGE_KEY);
  }

  /** Ends the session here and revokes its refresh token at Cognito (best effort: it is ended here either way). */
  async signOut(): Promise<void> {
    const tokens = this.#tokens;
    this.end();
    if (tokens) await this.cognito.revoke(tokens).catch(() => {});
  }

  /** An ID token good for a few minutes more, refreshed first when it is not. */
  async idToken(): Promise<string> {
    const tokens = this.#tokens;
    if (!tokens) throw new SignedOutError();
    if (tokens.expiresAt - this.now() > REFRESH_MARGIN_MS) return tokens.idToken;
    return (await this.refresh()).idToken;
  }

  /** One refresh at a time, however many requests ask for it. Ends the session if it fails. */
  refresh(): Promise<Tokens> {
    const tokens = this.#tokens;
    if (!tokens) return Promise.reject(new SignedOutError());
    this.#refreshing ??= this.cognito
      .refresh(tokens)
      .then(
        (fresh) => {
          this.start(fresh);
          return fresh;
        },
        () => {
          this.end();
          throw new SignedOutError();
        },
      )
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#refreshing;
  }

  #claims(): Record<string, unknown> | undefined {
    try {
      return this.#tokens ? jwtClaims(this.#tokens.idToken) : undefined;
    } catch {
      return undefined;
    }
  }
}

/** The session is gone (never started, or its refresh token was refused): sign in again. */
export class SignedOutError extends Error {
  constructor() {
    super('Your session has ended; sign in again');
  }
}
