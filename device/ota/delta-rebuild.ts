/**
 * Rebuilds a new image from a zstd patch-from delta and the image the device already runs, so a
 * device downloads the (usually much smaller) patch instead of the whole image.
 *
 * 1. The base image on disk must be exactly the one the delta was made from (size, then
 *    SHA-256), or the patch is not even fetched: `delta-base-mismatch`.
 * 2. The patch is downloaded with `downloadArtifact`: resumable, never more than its signed size,
 *    checked against its signed SHA-256 (a failure is that reason with a `delta-patch-` prefix;
 *    the partial file stays for the next attempt when the download merely did not finish). Its
 *    budget of download time (`budget`, by default from the patch's signed size) covers the patch
 *    download only; rebuilding does not count. A patch that arrives too slowly is
 *    `delta-patch-download-too-slow: …`.
 * 3. The patch streams from disk through the codec into a temporary file next to `outputPath`,
 *    hashed and counted on the way: one byte beyond `image.size` stops it
 *    (`delta-output-too-long`), so a hostile patch cannot fill the disk.
 * 4. The rebuilt image must have `image.sha256` and `image.size` (`delta-image-mismatch`); only
 *    then is it renamed to `outputPath`. On any failure the temporary output is removed.
 *
 * Memory: the base is held as one Buffer (it is the codec's dictionary); the patch and the output
 * stream, with at most one zstd window (≤ 2^maxWindowLog bytes) besides.
 *
 * Bad input never throws; it is a `{ ok: false, reason }`. An aborted `signal` does throw (as
 * `downloadArtifact` does), after removing the temporary output.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { applyDelta, windowLogFor } from '../../contract/zstd-delta';
import { type DownloadFailureReason, downloadArtifact, type LinkShaper } from './artifact-download';
import type { DownloadBudget } from './download-budget';

export interface ImageFacts {
  readonly sha256: string;
  readonly size: number;
}

export interface DeltaRebuildRequest {
  /** Where to fetch the patch, and its signed size and SHA-256. */
  readonly patch: { readonly url: string } & ImageFacts;
  /** The image the device runs (its active slot's image file): the codec's dictionary. */
  readonly baseImagePath: string;
  /** The image the patch was made from. */
  readonly base: ImageFacts;
  /** The image the patch rebuilds. */
  readonly image: ImageFacts;
  /** The patch's partial download; kept across attempts and restarts for Range resume. */
  readonly partialPath: string;
  /** Where the verified image ends up; nothing is ever written there unverified. */
  readonly outputPath: string;
  readonly signal?: AbortSignal | undefined;
  readonly link?: LinkShaper | undefined;
  /** @default 1000 (see `downloadArtifact`) */
  readonly retryDelayMs?: number | undefined;
  /** @default 5 (see `downloadArtifact`) */
  readonly maxStalledAttempts?: number | undefined;
  readonly idleTimeoutMs?: number | undefined;
  readonly log?: ((message: string) => void) | undefined;
  /** The patch download's budget (see `downloadArtifact`). @default downloadBudget(patch.size) */
  readonly budget?: DownloadBudget | undefined;
  /** Download time the patch already spent, e.g. before a restart (see `downloadArtifact`). */
  readonly spentMs?: number | undefined;
  /** @default 1 (see `downloadArtifact`) */
  readonly timeFactor?: number | undefined;
  /** Persists the download time spent so far (see `downloadArtifact`). */
  readonly onSpent?: ((spentMs: number) => Promise<void>) | undefined;
  /**
   * The largest zstd window (as a power of two) the patch may ask for. By default the window that
   * covers the larger of base and image, which is what `createDelta` uses: a patch asking for
   * more is refused instead of making the device allocate it.
   */
  readonly maxWindowLog?: number | undefined;
}

export type DeltaRebuildFailureReason =
  | 'delta-base-mismatch'
  | 'delta-output-too-long'
  | 'delta-image-mismatch'
  | `delta-apply-failed: ${string}`
  | `delta-patch-${DownloadFailureReason}`;

export type DeltaRebuildResult =
  | { readonly ok: true; readonly path: string; readonly bytesDownloaded: number }
  | { readonly ok: false; readonly reason: DeltaRebuildFailureReason; readonly bytesDownloaded: number };

class OutputTooLongError extends Error {}

export async function rebuildFromDelta(request: DeltaRebuildRequest): Promise<DeltaRebuildResult> {
  const { base, image, signal } = request;
  let bytesDownloaded = 0;
  const failed = (reason: DeltaRebuildFailureReason): DeltaRebuildResult => ({
    ok: false,
    reason,
    bytesDownloaded,
  });

  const baseBytes = await readBase(request.baseImagePath, base);
  if (!baseBytes) return failed('delta-base-mismatch');
  signal?.throwIfAborted();

  const download = await downloadArtifact({
    url: request.patch.url,
    size: request.patch.size,
    sha256: request.patch.sha256,
    partialPath: request.partialPath,
    signal,
    link: countingLink(request.link, (bytes) => {
      bytesDownloaded += bytes;
    }),
    ...(request.retryDelayMs !== undefined ? { retryDelayMs: request.retryDelayMs } : {}),
    ...(request.maxStalledAttempts !== undefined ? { maxStalledAttempts: request.maxStalledAttempts } : {}),
    ...(request.idleTimeoutMs !== undefined ? { idleTimeoutMs: request.idleTimeoutMs } : {}),
    ...(request.log ? { log: request.log } : {}),
    budget: request.budget,
    spentMs: request.spentMs,
    timeFactor: request.timeFactor,
    onSpent: request.onSpent,
  });
  if (!download.ok) return failed(`delta-patch-${download.reason}`);

  const temporary = `${request.outputPath}.rebuilding`;
  const maxWindowLog = request.maxWindowLog ?? windowLogFor(Math.max(base.size, image.size));
  const measure = new MeasuringLimit(image.size);
  await mkdir(dirname(request.outputPath), { recursive: true });
  try {
    await pipeline(
      applyDelta(baseBytes, createReadStream(download.path), maxWindowLog),
      measure,
      createWriteStream(temporary),
      signal ? { signal } : {},
    );
  } catch (error) {
    await rm(temporary, { force: true });
    signal?.throwIfAborted();
    // The patch is the signed one, so fetching it again would rebuild the same wrong bytes.
    await rm(download.path, { force: true });
    if (error instanceof OutputTooLongError) return failed('delta-output-too-long');
    return failed(`delta-apply-failed: ${(error as Error).message.slice(0, 200)}`);
  }
  await rm(download.path, { force: true });
  if (measure.bytes !== image.size || measure.digest() !== image.sha256) {
    await rm(temporary, { force: true });
    return failed('delta-image-mismatch');
  }
  await rename(temporary, request.outputPath);
  return { ok: true, path: request.outputPath, bytesDownloaded };
}

/**
 * The base image as a Buffer, or undefined if it is not the expected one. The size is checked on
 * disk first, so a wrong (perhaps huge) file is never read; the hash is taken of the very bytes
 * the codec will use.
 */
async function readBase(path: string, expected: ImageFacts): Promise<Buffer | undefined> {
  try {
    if ((await stat(path)).size !== expected.size) return undefined;
    const bytes = await readFile(path);
    if (bytes.length !== expected.size) return undefined;
    return createHash('sha256').update(bytes).digest('hex') === expected.sha256 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Wraps the caller's link shaper to count the bytes that actually arrived over the network. */
function countingLink(inner: LinkShaper | undefined, count: (bytes: number) => void): LinkShaper {
  return async function* (body, attempt) {
    for await (const chunk of inner ? inner(body, attempt) : body) {
      count(chunk.length);
      yield chunk;
    }
  };
}

/** Passes bytes through, hashing and counting them, and fails the stream past `limit` bytes. */
class MeasuringLimit extends Transform {
  readonly #hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(new OutputTooLongError(`output exceeds ${this.limit} bytes`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  digest(): string {
    return this.#hash.digest('hex');
  }
}
