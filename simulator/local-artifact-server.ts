/**
 * A small HTTP server for artifacts on 127.0.0.1, with single-range requests (`bytes=N-` and
 * `bytes=N-M`) answered as S3 does, and faults to order: cut the next responses mid-body, or
 * (`injectFault`) never answer, trickle the body, or send a body that never ends. For unit tests
 * and local fleet simulations.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ArtifactRequestLog {
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
  /** The fault the response met, if any (a `hang` logs status 0: nothing was sent). */
  readonly fault?: ResponseFault['kind'];
}

export type ResponseFault =
  /** Accepts the request and never answers: no status line, no headers, until the client gives up. */
  | { readonly kind: 'hang' }
  /** Answers as usual (status, Content-Length), then sends `bytes` bytes every `everyMs`. */
  | { readonly kind: 'trickle'; readonly bytes?: number; readonly everyMs: number }
  /** Answers 200 without a Content-Length and sends the object, then more bytes, never ending. */
  | { readonly kind: 'endless' };

export interface LocalArtifactServer {
  /** The URL of an artifact by name. */
  url(name: string): string;
  /** Every request, in order. */
  readonly requests: readonly ArtifactRequestLog[];
  /** Adds or replaces an artifact. */
  put(name: string, body: Uint8Array): void;
  /**
   * The next `count` responses with more than `afterBytes` bytes of body send that many, then
   * drop the connection.
   */
  cutNextResponses(count: number, afterBytes: number): void;
  /**
   * The next `count` requests (all, by default) for `path` (any artifact, by default) meet the
   * fault instead of a normal answer; a fault for a path wins over one for any path, and faults
   * win over cuts.
   */
  injectFault(fault: ResponseFault, options?: { readonly path?: string; readonly count?: number }): void;
  /** Ends all injected faults still pending. */
  clearFaults(): void;
  close(): Promise<void>;
}

export async function startLocalArtifactServer(
  artifacts: Readonly<Record<string, Uint8Array>> = {},
): Promise<LocalArtifactServer> {
  const store = new Map(Object.entries(artifacts).map(([name, body]) => [name, Buffer.from(body)]));
  const requests: ArtifactRequestLog[] = [];
  const cuts: number[] = [];
  const faults: { fault: ResponseFault; path: string | undefined; left: number }[] = [];
  const takeFault = (path: string) => {
    const entry = faults.find((f) => f.path === path) ?? faults.find((f) => f.path === undefined);
    if (!entry) return undefined;
    entry.left--;
    if (entry.left <= 0) faults.splice(faults.indexOf(entry), 1);
    return entry.fault;
  };

  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname.slice(1));
    const range = req.headers.range;
    const log = (status: number) => requests.push({ path, range, status });
    const body = store.get(path);
    if (req.method !== 'GET' || !body) {
      log(404);
      res.writeHead(404).end();
      return;
    }
    const fault = takeFault(path);
    if (fault?.kind === 'hang') {
      requests.push({ path, range, status: 0, fault: 'hang' });
      return;
    }
    if (fault?.kind === 'endless') {
      requests.push({ path, range, status: 200, fault: 'endless' });
      sendEndless(res, body);
      return;
    }
    let start = 0;
    let end = body.length - 1;
    let status = 200;
    if (range) {
      const match = range.match(/^bytes=(\d+)-(\d*)$/);
      const first = Number(match?.[1]);
      const last = match?.[2] ? Math.min(Number(match[2]), body.length - 1) : body.length - 1;
      if (!match || first >= body.length || first > last) {
        log(416);
        res.writeHead(416, { 'content-range': `bytes */${body.length}` }).end();
        return;
      }
      start = first;
      end = last;
      status = 206;
    }
    if (fault) requests.push({ path, range, status, fault: fault.kind });
    else log(status);
    const slice = body.subarray(start, end + 1);
    res.writeHead(status, {
      'content-type': 'application/octet-stream',
      'content-length': String(slice.length),
      'accept-ranges': 'bytes',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${body.length}` } : {}),
    });
    if (fault?.kind === 'trickle') {
      sendTrickle(res, slice, fault);
      return;
    }
    // A cut is for a body longer than where it cuts; shorter ones (metadata, say) pass whole.
    const cutAfter = cuts[0] !== undefined && slice.length > cuts[0] ? cuts.shift() : undefined;
    if (cutAfter === undefined) {
      res.end(slice);
      return;
    }
    res.write(slice.subarray(0, cutAfter), () => {
      // Let the bytes reach the client before the connection drops, as a flaky link would.
      setTimeout(() => res.socket?.destroy(), 20);
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: (name) => `http://127.0.0.1:${port}/${encodeURIComponent(name)}`,
    requests,
    put: (name, body) => {
      store.set(name, Buffer.from(body));
    },
    cutNextResponses: (count, afterBytes) => {
      for (let i = 0; i < count; i++) cuts.push(afterBytes);
    },
    injectFault: (fault, options = {}) => {
      faults.push({ fault, path: options.path, left: options.count ?? Number.POSITIVE_INFINITY });
    },
    clearFaults: () => {
      faults.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** `bytes` bytes every `everyMs`, then the end of the body (if the client waits that long). */
function sendTrickle(
  res: ServerResponse,
  slice: Buffer,
  { bytes = 1, everyMs }: { readonly bytes?: number; readonly everyMs: number },
): void {
  let sent = 0;
  const timer = setInterval(() => {
    const part = slice.subarray(sent, sent + bytes);
    sent += part.length;
    if (sent >= slice.length) {
      clearInterval(timer);
      res.end(part);
    } else res.write(part);
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

/** The object, then the object again and again, as fast as the client reads, until it hangs up. */
function sendEndless(res: ServerResponse, body: Buffer): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  const chunk = body.length > 0 ? body : Buffer.alloc(1024);
  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const pump = () => {
    while (!closed && res.write(chunk)) {
      // keep writing until the socket's buffer is full
    }
    if (!closed) res.once('drain', pump);
  };
  pump();
}
