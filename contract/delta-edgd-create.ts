/**
 * Makes EDGD v1 patches (delta-edgd-format.ts, docs/delta-format.md). Backend only: the device
 * never imports this.
 *
 * Matching works like bsdiff's: the base's suffix array (delta-suffix-array.ts) finds, at each
 * position of the target, the longest exact match anywhere in the base; a match is taken once it
 * beats by more than 8 bytes what the current alignment (the previous match's offset) already
 * gives, and each taken match is then widened forwards and backwards into an approximate match,
 * as long as more than half of its bytes agree. The approximate parts become byte differences in
 * the diff stream (mostly zeros: code that moved keeps its instructions, only addresses change),
 * and what lies between matches goes to the extra stream as it is. The three streams are then
 * compressed apart with zstd, each with statistics of its own, which is most of why the patches
 * come out smaller than bsdiff's (one bzip2 pass per stream, fixed-width control words).
 *
 * Memory: the base, its suffix array (4 bytes per base byte), the target and the diff and extra
 * bytes (together the target's size), plus zstd's tables; see MAX_EDGD_INPUT_BYTES in
 * functions/domain/delta.ts for the limit this puts on the builder.
 */
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, zstdCompress } from 'node:zlib';
import {
  EDGD_STREAM_BROTLI,
  EDGD_STREAM_ZSTD,
  EDGD_VERSION,
  type EdgdStreamCompression,
  encodeEdgdHeader,
  VarintWriter,
} from './delta-edgd-format';
import { suffixArray } from './delta-suffix-array';

const zstd = promisify(zstdCompress);
const brotli = promisify(brotliCompress);

/**
 * Streams up to this size are compressed with brotli at quality 11 (about 10 % smaller than zstd
 * level 19 on the control and extra streams of a node binary), larger ones with zstd, which is
 * some 50× faster: brotli 11 runs at a few hundred KB/s, too slow for a 1 GB image's streams.
 */
export const BROTLI_MAX_STREAM_BYTES = 8 * 2 ** 20;

export interface EdgdCreateOptions {
  /** zstd level for the three streams. @default 19 */
  readonly level?: number;
  /** zstd window of each stream, as a power of two (≤ EDGD_MAX_WINDOW_LOG). @default 23 */
  readonly windowLog?: number;
  /** Use brotli for streams up to this many bytes. @default BROTLI_MAX_STREAM_BYTES */
  readonly brotliMaxBytes?: number;
}

/** Growing list of byte chunks; avoids one buffer the size of the whole target per stream. */
class ByteSink {
  readonly chunks: Buffer[] = [];
  #current = Buffer.allocUnsafe(1 << 20);
  #used = 0;
  length = 0;

  push(byte: number): void {
    if (this.#used === this.#current.length) this.#flush();
    this.#current[this.#used++] = byte;
    this.length++;
  }

  append(bytes: Uint8Array): void {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.#used === this.#current.length) this.#flush();
      const n = Math.min(bytes.length - offset, this.#current.length - this.#used);
      this.#current.set(bytes.subarray(offset, offset + n), this.#used);
      this.#used += n;
      offset += n;
    }
    this.length += bytes.length;
  }

  #flush(): void {
    this.chunks.push(this.#current);
    this.#current = Buffer.allocUnsafe(1 << 20);
    this.#used = 0;
  }

  finish(): Buffer {
    const all = Buffer.concat([...this.chunks, this.#current.subarray(0, this.#used)]);
    this.chunks.length = 0;
    return all;
  }
}

/**
 * Finds longest exact matches of target suffixes among base suffixes by binary search over the
 * suffix array, starting each comparison after the prefix both bounds already share, and from
 * the range of suffixes that start with the same two bytes.
 */
export class MatchFinder {
  readonly #start = new Int32Array(65537);
  pos = 0;

  constructor(
    private readonly base: Uint8Array,
    private readonly sa: Int32Array,
  ) {
    // sa is sorted, so suffixes sharing their first two bytes are one range; the one-byte suffix
    // (the base's last byte) sorts before them and belongs to no range.
    const n = base.length;
    const count = new Int32Array(65536);
    for (let i = 0; i + 1 < n; i++) {
      const key = ((base[i] as number) << 8) | (base[i + 1] as number);
      count[key] = (count[key] as number) + 1;
    }
    let at = 0;
    const lastAlone = n > 0 ? (base[n - 1] as number) : -1;
    for (let key = 0; key < 65536; key++) {
      // The lone last byte sits before the first range of its leading byte.
      if ((key & 0xff) === 0 && key >> 8 === lastAlone) at++;
      this.#start[key] = at;
      at += count[key] as number;
    }
    this.#start[65536] = at;
  }

  #lcp(p: number, target: Uint8Array, t: number, from: number): number {
    const base = this.base;
    const max = Math.min(base.length - p, target.length - t);
    let k = from;
    while (k < max && base[p + k] === target[t + k]) k++;
    return k;
  }

  /** The length of the longest match of target[t..] in the base; its base position in `pos`. */
  search(target: Uint8Array, t: number): number {
    const { base, sa } = this;
    let lo = 0;
    let hi = sa.length - 1;
    if (hi < 0) {
      this.pos = 0;
      return 0;
    }
    if (t + 1 < target.length) {
      const key = ((target[t] as number) << 8) | (target[t + 1] as number);
      const start = this.#start[key] as number;
      const end = this.#start[key + 1] as number;
      if (end > start) {
        lo = start;
        hi = end - 1;
      }
    }
    let lcpLo = this.#lcp(sa[lo] as number, target, t, 0);
    let lcpHi = this.#lcp(sa[hi] as number, target, t, 0);
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      const p = sa[mid] as number;
      const k = this.#lcp(p, target, t, Math.min(lcpLo, lcpHi));
      const baseEnded = p + k >= base.length;
      const targetEnded = t + k >= target.length;
      // A suffix that ends first is the smaller one.
      const baseSmaller = baseEnded || (!targetEnded && (base[p + k] as number) < (target[t + k] as number));
      if (baseSmaller) {
        lo = mid;
        lcpLo = k;
      } else {
        hi = mid;
        lcpHi = k;
      }
    }
    if (lcpLo >= lcpHi) {
      this.pos = sa[lo] as number;
      return lcpLo;
    }
    this.pos = sa[hi] as number;
    return lcpHi;
  }
}

/** Makes a patch that turns `base` into `target`. */
export async function createEdgdDelta(
  base: Uint8Array,
  target: Uint8Array,
  options: EdgdCreateOptions = {},
): Promise<Buffer> {
  const sa = suffixArray(base);
  return createEdgdDeltaWithIndex(base, sa, target, options);
}

/** As createEdgdDelta, with the base's suffix array made beforehand (so the target can be read after it). */
export async function createEdgdDeltaWithIndex(
  base: Uint8Array,
  sa: Int32Array,
  target: Uint8Array,
  options: EdgdCreateOptions = {},
): Promise<Buffer> {
  const { control, diff, extra } = matchStreams(base, sa, target);
  const level = options.level ?? 19;
  const windowLog = options.windowLog ?? 23;
  const brotliMax = options.brotliMaxBytes ?? BROTLI_MAX_STREAM_BYTES;
  const compression = [control, diff, extra].map((stream) =>
    stream.length <= brotliMax ? EDGD_STREAM_BROTLI : EDGD_STREAM_ZSTD,
  ) as [EdgdStreamCompression, EdgdStreamCompression, EdgdStreamCompression];
  const [controlZ, diffZ, extraZ] = await Promise.all(
    [control, diff, extra].map((stream, i) =>
      compression[i] === EDGD_STREAM_BROTLI
        ? brotli(stream, {
            params: {
              [constants.BROTLI_PARAM_QUALITY]: 11,
              [constants.BROTLI_PARAM_LGWIN]: 24,
              [constants.BROTLI_PARAM_SIZE_HINT]: stream.length,
            },
          })
        : zstd(stream, {
            params: {
              [constants.ZSTD_c_compressionLevel]: level,
              [constants.ZSTD_c_windowLog]: windowLog,
              [constants.ZSTD_c_checksumFlag]: 1,
            },
          }),
    ),
  );
  const header = encodeEdgdHeader({
    version: EDGD_VERSION,
    compression,
    baseLength: base.length,
    targetLength: target.length,
    controlLength: (controlZ as Buffer).length,
    diffLength: (diffZ as Buffer).length,
    extraLength: (extraZ as Buffer).length,
    baseSha256: createHash('sha256').update(base).digest('hex'),
    targetSha256: createHash('sha256').update(target).digest('hex'),
  });
  return Buffer.concat([header, controlZ as Buffer, diffZ as Buffer, extraZ as Buffer]);
}

/** The uncompressed control, diff and extra streams. */
export function matchStreams(
  base: Uint8Array,
  sa: Int32Array,
  target: Uint8Array,
): { control: Buffer; diff: Buffer; extra: Buffer } {
  const finder = new MatchFinder(base, sa);
  const control = new VarintWriter();
  const diff = new ByteSink();
  const extra = new ByteSink();
  const oldSize = base.length;
  const newSize = target.length;

  let scan = 0;
  let len = 0;
  let pos = 0;
  let lastScan = 0;
  let lastPos = 0;
  let lastOffset = 0;
  while (scan < newSize) {
    let oldScore = 0;
    scan += len;
    let scsc = scan;
    for (; scan < newSize; scan++) {
      len = finder.search(target, scan);
      pos = finder.pos;
      // How many of the match's bytes the current alignment gets right already.
      for (; scsc < scan + len; scsc++)
        if (scsc + lastOffset < oldSize && scsc + lastOffset >= 0 && base[scsc + lastOffset] === target[scsc])
          oldScore++;
      if ((len === oldScore && len !== 0) || len > oldScore + 8) break;
      if (scan + lastOffset < oldSize && scan + lastOffset >= 0 && base[scan + lastOffset] === target[scan])
        oldScore--;
    }
    if (len === oldScore && scan !== newSize) continue;

    // Widen the previous match forwards while more than half of the bytes agree.
    let agree = 0;
    let bestForward = 0;
    let lenF = 0;
    for (let i = 0; lastScan + i < scan && lastPos + i < oldSize; ) {
      if (base[lastPos + i] === target[lastScan + i]) agree++;
      i++;
      if (agree * 2 - i > bestForward * 2 - lenF) {
        bestForward = agree;
        lenF = i;
      }
    }
    // Widen the new match backwards likewise.
    let lenB = 0;
    if (scan < newSize) {
      agree = 0;
      let bestBack = 0;
      for (let i = 1; scan >= lastScan + i && pos >= i; i++) {
        if (base[pos - i] === target[scan - i]) agree++;
        if (agree * 2 - i > bestBack * 2 - lenB) {
          bestBack = agree;
          lenB = i;
        }
      }
    }
    // Where the two overlap, split at the point that keeps the most agreeing bytes.
    if (lastScan + lenF > scan - lenB) {
      const overlap = lastScan + lenF - (scan - lenB);
      let score = 0;
      let bestScore = 0;
      let split = 0;
      for (let i = 0; i < overlap; i++) {
        if (target[lastScan + lenF - overlap + i] === base[lastPos + lenF - overlap + i]) score++;
        if (target[scan - lenB + i] === base[pos - lenB + i]) score--;
        if (score > bestScore) {
          bestScore = score;
          split = i + 1;
        }
      }
      lenF += split - overlap;
      lenB -= split;
    }

    for (let i = 0; i < lenF; i++)
      diff.push(((target[lastScan + i] as number) - (base[lastPos + i] as number)) & 0xff);
    const insertFrom = lastScan + lenF;
    const insertLength = scan - lenB - insertFrom;
    extra.append(target.subarray(insertFrom, insertFrom + insertLength));
    control.uint(lenF);
    control.uint(insertLength);
    control.int(pos - lenB - (lastPos + lenF));

    lastScan = scan - lenB;
    lastPos = pos - lenB;
    lastOffset = pos - scan;
  }
  return { control: control.bytes(), diff: diff.finish(), extra: extra.finish() };
}
