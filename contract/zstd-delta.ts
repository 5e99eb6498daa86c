/**
 * Binary deltas as standard zstd frames whose dictionary is the base image ("patch-from"):
 * Node's built-in zstd (≥ 24.6) makes and applies them, with no native code of ours, and
 * `zstd --patch-from` reads the same frames.
 *
 * The window must cover the whole base, or matches far back in it are lost (about 21 % of the
 * new file at defaults against about 5 % sized to the file, for a patch-level change to a
 * 125 MB binary), so window, hash and chain logs are sized to the larger file and long-distance
 * matching is on. Applying streams the patch in and the image out; the base itself is the
 * dictionary and stays in memory.
 */
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { constants, createZstdDecompress, zstdCompress } from 'node:zlib';

const compress = promisify(zstdCompress);

/** zstd's limits for windowLog on 64-bit builds. */
const MIN_WINDOW_LOG = 10;
const MAX_WINDOW_LOG = 31;

/** The smallest window (as a power of two) that covers `bytes`. */
export function windowLogFor(bytes: number): number {
  return Math.min(MAX_WINDOW_LOG, Math.max(MIN_WINDOW_LOG, Math.ceil(Math.log2(Math.max(bytes, 1) + 1))));
}

export interface DeltaOptions {
  /** zstd level 1–22. @default 19 */
  readonly level?: number;
}

/** Makes a patch that turns `base` into `target`. */
export async function createDelta(base: Buffer, target: Buffer, options: DeltaOptions = {}): Promise<Buffer> {
  const windowLog = windowLogFor(Math.max(base.length, target.length));
  return compress(target, {
    dictionary: base,
    params: {
      [constants.ZSTD_c_compressionLevel]: options.level ?? 19,
      [constants.ZSTD_c_windowLog]: windowLog,
      [constants.ZSTD_c_hashLog]: Math.min(windowLog, 30),
      [constants.ZSTD_c_chainLog]: Math.min(windowLog, 30),
      [constants.ZSTD_c_enableLongDistanceMatching]: 1,
      [constants.ZSTD_c_checksumFlag]: 1,
      [constants.ZSTD_c_contentSizeFlag]: 1,
    },
  });
}

/**
 * Applies a patch as a stream: the patch flows in, the rebuilt image flows out, and only zstd's
 * window (≤ 2^`maxWindowLog` bytes) is held besides the base. A patch that needs a larger window
 * than allowed, or is corrupt, or does not fit this base, fails the stream with an error.
 */
export function applyDelta(base: Buffer, patch: Readable, maxWindowLog = MAX_WINDOW_LOG): Readable {
  const decompress = createZstdDecompress({
    dictionary: base,
    params: { [constants.ZSTD_d_windowLogMax]: maxWindowLog },
  });
  patch.on('error', (error) => decompress.destroy(error));
  return patch.pipe(decompress);
}

/** Collects a stream (tests and small images). */
export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export const patchStream = (patch: Buffer) => Readable.from([patch]);
