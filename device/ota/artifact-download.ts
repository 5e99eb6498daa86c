/**
 * Resumable artifact download: HTTP(S) GET into a partial file, continuing with
 * `Range: bytes=<have>-` after a cut connection or an agent restart (the partial file is the
 * only state), then checking exact size and SHA-256 before anyone may install it.
 *
 * 1. Whatever is in the partial file is kept; a request asks only for the rest.
 * 2. The body streams to disk chunk by chunk: memory stays bounded by one network chunk.
 * 3. A byte beyond the signed size stops the download: `size-mismatch`, the partial is deleted.
 * 4. A cut or stalled connection is retried; attempts that make progress are free, and the
 *    download gives up after `maxStalledAttempts` attempts in a row without a byte of progress.
 * 5. A complete file whose SHA-256 differs is deleted: `sha256-mismatch`.
 * 6. The transfer has a budget of download time from its signed size (`download-budget.ts`): when
 *    it is spent, whatever request or pause is under way is abandoned, the partial is deleted and
 *    the result is `download-too-slow: <have>/<size> bytes after …`. A slow trickle, which neither
 *    the idle timeout nor the stall count ever ends, ends here. Hashing the finished file does not
 *    count against it.
 */
import { mkdir, open, rm, stat } from 'node:fs/promises';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { sha256OfFile } from '../storage/file-digest';
import {
  type DownloadBudget,
  DownloadClock,
  type DownloadTooSlow,
  downloadBudget,
  downloadTooSlow,
} from './download-budget';

/**
 * Shapes the bytes as the network delivers them; the identity by default. Simulations use it to
 * throttle, cut or corrupt a device's link (`fault-profiles.ts`).
 */
export type LinkShaper = (
  body: AsyncIterable<Buffer>,
  attempt: { readonly offset: number; readonly attempt: number; readonly signal?: AbortSignal | undefined },
) => AsyncIterable<Buffer>;

export interface ArtifactDownloadRequest {
  readonly url: string;
  readonly size: number;
  readonly sha256: string;
  /** Kept across attempts and restarts; its length is where the next request starts. */
  readonly partialPath: string;
  readonly signal?: AbortSignal;
  readonly link?: LinkShaper;
  /** @default 5 */
  readonly maxStalledAttempts?: number;
  /** Pause after the first attempt without progress, doubled for each further one. @default 1000 */
  readonly retryDelayMs?: number;
  /** A connection quiet for this long is abandoned (and retried). @default 30000 */
  readonly idleTimeoutMs?: number;
  readonly log?: (message: string) => void;
  /** How much download time the transfer may take. @default downloadBudget(size) */
  readonly budget?: DownloadBudget | undefined;
  /** Download time this transfer spent before (device ms), e.g. before a restart. @default 0 */
  readonly spentMs?: number | undefined;
  /** The device's time factor: how the budget maps to wall-clock time (`DownloadClock`). @default 1 */
  readonly timeFactor?: number | undefined;
  /**
   * Called with the download time spent so far, now and then while the transfer runs (and after
   * an interrupted attempt), so the caller can persist it for a restart. It may throw to stop.
   */
  readonly onSpent?: ((spentMs: number) => Promise<void>) | undefined;
}

export type DownloadFailureReason =
  | 'sha256-mismatch'
  | 'size-mismatch'
  | DownloadTooSlow
  | `download-failed: ${string}`;

export type DownloadResult =
  | { readonly ok: true; readonly path: string; readonly resumedFrom: number; readonly requests: number }
  | { readonly ok: false; readonly reason: DownloadFailureReason };

class SizeMismatchError extends Error {}
class PermanentDownloadError extends Error {}

export async function downloadArtifact(request: ArtifactDownloadRequest): Promise<DownloadResult> {
  const { size, partialPath, signal, maxStalledAttempts = 5, retryDelayMs = 1000 } = request;
  await mkdir(dirname(partialPath), { recursive: true });
  const resumedFrom = await sizeOf(partialPath);
  const clock = new DownloadClock(request.budget ?? downloadBudget(size), {
    spentMs: request.spentMs,
    timeFactor: request.timeFactor,
  });
  // Requests, bodies, link shapers and retry pauses end when the agent stops or the budget is spent.
  const attempt: Attempt = {
    signal: signal ? AbortSignal.any([signal, clock.signal]) : clock.signal,
    checkpoint: async () => {
      if (request.onSpent && clock.checkpointDue()) await request.onSpent(clock.spentMs);
    },
  };
  const tooSlow = async (have: number): Promise<DownloadResult> => {
    clock.stop();
    const reason = downloadTooSlow(clock.budget, have, clock.spentMs);
    request.log?.(reason);
    await rm(partialPath, { force: true });
    return { ok: false, reason };
  };
  let requests = 0;
  let stalled = 0;
  // Progress counts only past the furthest point reached: a server that makes the device start
  // over again and again must still run out of attempts.
  let furthest = resumedFrom;
  let lastError = 'no response';
  try {
    for (;;) {
      signal?.throwIfAborted();
      const have = await sizeOf(partialPath);
      if (have > size) return fail(partialPath, 'size-mismatch');
      if (have === size) break;
      if (clock.expired) return tooSlow(have);
      requests++;
      try {
        await fetchRemainder(request, have, requests, attempt);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (error instanceof SizeMismatchError) return fail(partialPath, 'size-mismatch');
        if (error instanceof PermanentDownloadError)
          return { ok: false, reason: `download-failed: ${error.message}` };
        if (!clock.expired) {
          lastError = (error as Error).message;
          request.log?.(`download interrupted at ${await sizeOf(partialPath)}/${size} bytes: ${lastError}`);
        }
      }
      const now = await sizeOf(partialPath);
      if (now >= size) continue;
      if (clock.expired) return tooSlow(now);
      await attempt.checkpoint();
      if (now > furthest) {
        furthest = now;
        stalled = 0;
      } else stalled++;
      if (stalled >= maxStalledAttempts) return { ok: false, reason: `download-failed: ${lastError}` };
      if (stalled > 0)
        await sleep(retryDelayMs * 2 ** (stalled - 1), undefined, { signal: attempt.signal }).catch(() => {
          // The agent stopping throws at the top of the loop; a spent budget ends it there.
        });
    }
  } finally {
    clock.stop();
  }
  if ((await sha256OfFile(partialPath, signal)) !== request.sha256)
    return fail(partialPath, 'sha256-mismatch');
  return { ok: true, path: partialPath, resumedFrom, requests };
}

/** One request's cancellation (agent stopped or budget spent) and where to persist the time spent. */
interface Attempt {
  readonly signal: AbortSignal;
  readonly checkpoint: () => Promise<void>;
}

async function fetchRemainder(
  request: ArtifactDownloadRequest,
  have: number,
  number: number,
  { signal, checkpoint }: Attempt,
): Promise<void> {
  const { size, partialPath, link } = request;
  const response = await get(new URL(request.url), have, request.idleTimeoutMs ?? 30_000, signal);
  let start: number;
  if (response.statusCode === 206) {
    const range = parseContentRange(response.headers['content-range']);
    if (range?.total !== undefined && range.total !== size) {
      response.resume();
      throw new SizeMismatchError();
    }
    if (range?.start !== have) {
      // The server answered another range than asked: start over rather than guess.
      response.resume();
      await rm(partialPath, { force: true });
      throw new Error(`asked for bytes ${have}-, got ${response.headers['content-range']}`);
    }
    start = have;
  } else if (response.statusCode === 200) {
    // The whole object (the server ignored Range, or none was asked): it must be the signed size.
    const length = response.headers['content-length'];
    if (length !== undefined && Number(length) !== size) {
      response.resume();
      throw new SizeMismatchError();
    }
    start = 0;
  } else if (response.statusCode === 416) {
    response.resume();
    const total = /^bytes \*\/(\d+)$/.exec(response.headers['content-range'] ?? '')?.[1];
    if (total !== undefined && Number(total) !== size) throw new SizeMismatchError();
    await rm(partialPath, { force: true });
    throw new Error('range not satisfiable; starting over');
  } else {
    response.resume();
    const status = response.statusCode ?? 0;
    const message = `HTTP ${status}`;
    // 4xx will not heal by retrying (an expired presigned URL is 403); 5xx and 429 may.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429)
      throw new PermanentDownloadError(message);
    throw new Error(message);
  }
  // One chunk in memory at a time, each written before the next is read: whatever arrived before
  // a cut is on disk for the next attempt.
  const file = await open(partialPath, start === 0 ? 'w' : 'a');
  try {
    let total = start;
    for await (const chunk of link ? link(response, { offset: start, attempt: number, signal }) : response) {
      total += chunk.length;
      if (total > size) throw new SizeMismatchError();
      await file.write(chunk);
      await checkpoint();
    }
  } finally {
    await file.close();
  }
}

function get(url: URL, have: number, idleTimeoutMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
  const client = url.protocol === 'https:' ? https : url.protocol === 'http:' ? http : undefined;
  if (!client) return Promise.reject(new PermanentDownloadError(`unsupported protocol ${url.protocol}`));
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      {
        headers: {
          ...(have > 0 ? { range: `bytes=${have}-` } : {}),
          ...localAwsHeaders(url),
        },
        ...(signal ? { signal } : {}),
      },
      resolve,
    );
    request.on('error', reject);
    request.setTimeout(idleTimeoutMs, () =>
      request.destroy(new Error(`connection idle for ${idleTimeoutMs} ms`)),
    );
  });
}

/** `bytes <start>-<end>/<total|*>` */
function parseContentRange(header: string | undefined) {
  const match = header?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return undefined;
  return {
    start: Number(match[1]),
    end: Number(match[2]),
    total: match[3] === '*' ? undefined : Number(match[3]),
  };
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function fail(
  partialPath: string,
  reason: 'sha256-mismatch' | 'size-mismatch',
): Promise<DownloadResult> {
  await rm(partialPath, { force: true });
  return { ok: false, reason };
}

/**
 * Plain http is only ever allowed against local AWS, whose S3 counts a request as TLS (as the
 * artifact bucket's policy demands) when this header says the hop was https. Over https: none.
 */
export const localAwsHeaders = (url: URL): Record<string, string> =>
  url.protocol === 'http:' ? { 'x-forwarded-proto': 'https' } : {};
