/**
 * A small HTTP server for artifacts on 127.0.0.1, with single-range requests (`bytes=N-` and
 * `bytes=N-M`) answered as S3 does, and faults to order: cut the next responses mid-body. For
 * unit tests and local fleet simulations.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ArtifactRequestLog {
  readonly path: string;
  readonly range: string | undefined;
  readonly status: number;
}

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
  close(): Promise<void>;
}

export async function startLocalArtifactServer(
  artifacts: Readonly<Record<string, Uint8Array>> = {},
): Promise<LocalArtifactServer> {
  const store = new Map(Object.entries(artifacts).map(([name, body]) => [name, Buffer.from(body)]));
  const requests: ArtifactRequestLog[] = [];
  const cuts: number[] = [];

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
    log(status);
    const slice = body.subarray(start, end + 1);
    res.writeHead(status, {
      'content-type': 'application/octet-stream',
      'content-length': String(slice.length),
      'accept-ranges': 'bytes',
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${body.length}` } : {}),
    });
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
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
