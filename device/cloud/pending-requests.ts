/**
 * Request/response over MQTT, correlated by clientToken: the shadow and Jobs services echo the
 * token in their `/accepted` or `/rejected` answer. A timer runs only while a request is open.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'RequestTimeoutError';
}

export class PendingRequests<T> {
  readonly #open = new Map<
    string,
    { resolve: (value: T) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }
  >();

  constructor(
    private readonly what: string,
    private readonly timeoutMs: number,
  ) {}

  /** Registers `clientToken` before the request goes out, so a fast answer is not missed. */
  expect(clientToken: string): Promise<T> {
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#open.delete(clientToken);
        reject(new RequestTimeoutError(`No ${this.what} response within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      timer.unref();
      this.#open.set(clientToken, { resolve, reject, timer });
    });
    // The caller awaits the answer only after publishing; a session closed meanwhile must not
    // count as an unhandled rejection. The caller still sees it.
    answer.catch(() => {});
    return answer;
  }

  resolve(clientToken: string | undefined, value: T): boolean {
    const open = clientToken === undefined ? undefined : this.#open.get(clientToken);
    if (!open || clientToken === undefined) return false;
    this.#open.delete(clientToken);
    clearTimeout(open.timer);
    open.resolve(value);
    return true;
  }

  reject(clientToken: string | undefined, error: Error): boolean {
    const open = clientToken === undefined ? undefined : this.#open.get(clientToken);
    if (!open || clientToken === undefined) return false;
    this.#open.delete(clientToken);
    clearTimeout(open.timer);
    open.reject(error);
    return true;
  }

  rejectAll(error: Error): void {
    for (const [token, open] of this.#open) {
      clearTimeout(open.timer);
      this.#open.delete(token);
      open.reject(error);
    }
  }
}
