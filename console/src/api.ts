import { type Session, SignedOutError } from './session';

/** The API answered with an error status; `message` is the API's own (it names the field). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

/**
 * The operator API, as the console calls it: the ID token on every request, one refresh and
 * retry when the API says 401 (the token expired between our check and its), and the API's error
 * message surfaced as is.
 */
export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly session: Session,
    private readonly onSignedOut: () => void,
  ) {}

  get<T>(path: string, query: Query = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined && value !== '') search.set(key, String(value));
    const qs = search.toString();
    return this.#send<T>('GET', qs ? `${path}?${qs}` : path);
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.#send<T>('POST', path, body);
  }

  async #send<T>(method: string, path: string, body?: unknown, retried = false): Promise<T> {
    let token: string;
    try {
      token = retried ? (await this.session.refresh()).idToken : await this.session.idToken();
    } catch (error) {
      if (error instanceof SignedOutError) this.onSignedOut();
      throw error;
    }
    let response: Response;
    try {
      response = await fetch(new URL(path, new URL(this.baseUrl, location.href)), {
        method,
        headers: {
          authorization: token,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch {
      throw new ApiError(0, 'Cannot reach the operator API');
    }
    if (response.status === 401 && !retried) return this.#send<T>(method, path, body, true);
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      if (response.status === 401) {
        this.session.end();
        this.onSignedOut();
      }
      const message =
        typeof parsed === 'object' && parsed !== null && 'message' in parsed
          ? String((parsed as { message: unknown }).message)
          : `The API answered ${response.status}`;
      throw new ApiError(response.status, message);
    }
    return parsed as T;
  }
}
