/**
 * The EDGD delta format, version 1 (docs/delta-format.md): a patch made of three separately
 * compressed streams, which rebuilds a target image from a base image it reads by random access.
 *
 * - control: per step, three varints: `copy` (bytes taken from the base and added to the diff
 *   stream's bytes, byte by byte modulo 256), `insert` (bytes taken from the extra stream as they
 *   are), and `seek` (zigzag, how far the base position then moves);
 * - diff: the byte differences of the approximate matches (mostly zeros, so it compresses well);
 * - extra: the new bytes that match nothing in the base.
 *
 * This module holds what both sides need to agree on: the header, its limits, the varints. The
 * creator (delta-edgd-create.ts, backend only) and the streaming apply (delta-edgd-apply.ts,
 * device and builder) build on it.
 */

/** "EDGD" */
export const EDGD_MAGIC = 0x44474445;
/** The only format version this code writes and applies. */
export const EDGD_VERSION = 1;
/** Stream compression 1: the stream is zstd frames (window ≤ 2^EDGD_MAX_WINDOW_LOG). */
export const EDGD_STREAM_ZSTD = 1;
/** Stream compression 2: the stream is one brotli stream (window ≤ 2^24, brotli's standard limit). */
export const EDGD_STREAM_BROTLI = 2;
export type EdgdStreamCompression = typeof EDGD_STREAM_ZSTD | typeof EDGD_STREAM_BROTLI;
/** Header bytes before the first stream. */
export const EDGD_HEADER_BYTES = 112;
/**
 * The largest zstd window a stream may use, as a power of two (16 MiB): it bounds what a device
 * allocates per stream. The creator uses 2^23.
 */
export const EDGD_MAX_WINDOW_LOG = 24;

export interface EdgdHeader {
  readonly version: number;
  /** How each stream is compressed: control, diff, extra. */
  readonly compression: readonly [EdgdStreamCompression, EdgdStreamCompression, EdgdStreamCompression];
  readonly baseLength: number;
  readonly targetLength: number;
  readonly controlLength: number;
  readonly diffLength: number;
  readonly extraLength: number;
  /** Lowercase hex SHA-256 of the base and target images. */
  readonly baseSha256: string;
  readonly targetSha256: string;
}

/** A patch that is not (or not a readable) EDGD v1 patch. */
export class EdgdFormatError extends Error {
  override readonly name = 'EdgdFormatError';
}

export function encodeEdgdHeader(header: EdgdHeader): Buffer {
  const out = Buffer.alloc(EDGD_HEADER_BYTES);
  out.writeUInt32LE(EDGD_MAGIC, 0);
  out.writeUInt8(header.version, 4);
  for (const [i, c] of header.compression.entries()) out.writeUInt8(c, 5 + i);
  out.writeBigUInt64LE(BigInt(header.baseLength), 8);
  out.writeBigUInt64LE(BigInt(header.targetLength), 16);
  out.writeBigUInt64LE(BigInt(header.controlLength), 24);
  out.writeBigUInt64LE(BigInt(header.diffLength), 32);
  out.writeBigUInt64LE(BigInt(header.extraLength), 40);
  out.write(header.baseSha256, 48, 32, 'hex');
  out.write(header.targetSha256, 80, 32, 'hex');
  return out;
}

/**
 * Reads and checks a header: magic, version (anything but EDGD_VERSION is refused by name), stream
 * compression, lengths that are safe integers and add up to `patchLength`.
 */
export function decodeEdgdHeader(bytes: Uint8Array, patchLength: number): EdgdHeader {
  if (bytes.length < EDGD_HEADER_BYTES || patchLength < EDGD_HEADER_BYTES)
    throw new EdgdFormatError(`not an EDGD patch: shorter than its ${EDGD_HEADER_BYTES}-byte header`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, EDGD_HEADER_BYTES);
  if (view.readUInt32LE(0) !== EDGD_MAGIC) throw new EdgdFormatError('not an EDGD patch: bad magic');
  const version = view.readUInt8(4);
  if (version !== EDGD_VERSION)
    throw new EdgdFormatError(
      `unsupported EDGD format version ${version}: this agent applies version ${EDGD_VERSION} only`,
    );
  const compression = (['control', 'diff', 'extra'] as const).map((stream, i) => {
    const c = view.readUInt8(5 + i);
    if (c !== EDGD_STREAM_ZSTD && c !== EDGD_STREAM_BROTLI)
      throw new EdgdFormatError(`unsupported EDGD compression ${c} of the ${stream} stream`);
    return c;
  }) as unknown as EdgdHeader['compression'];
  const length = (offset: number, what: string) => {
    const value = view.readBigUInt64LE(offset);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new EdgdFormatError(`EDGD header: ${what} too large`);
    return Number(value);
  };
  const header: EdgdHeader = {
    version,
    compression,
    baseLength: length(8, 'base length'),
    targetLength: length(16, 'target length'),
    controlLength: length(24, 'control length'),
    diffLength: length(32, 'diff length'),
    extraLength: length(40, 'extra length'),
    baseSha256: view.toString('hex', 48, 80),
    targetSha256: view.toString('hex', 80, 112),
  };
  const total = EDGD_HEADER_BYTES + header.controlLength + header.diffLength + header.extraLength;
  if (total !== patchLength)
    throw new EdgdFormatError(`EDGD header: streams add up to ${total} bytes, the patch has ${patchLength}`);
  return header;
}

/** Appends unsigned LEB128 varints to a growing byte list. */
export class VarintWriter {
  #bytes = Buffer.alloc(1 << 16);
  #length = 0;

  uint(value: number): void {
    if (this.#length + 10 > this.#bytes.length) {
      const grown = Buffer.alloc(this.#bytes.length * 2);
      this.#bytes.copy(grown, 0, 0, this.#length);
      this.#bytes = grown;
    }
    let v = value;
    while (v >= 0x80) {
      this.#bytes[this.#length++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.#bytes[this.#length++] = v;
  }

  /** Zigzag: 0, -1, 1, -2, … → 0, 1, 2, 3, … */
  int(value: number): void {
    this.uint(value >= 0 ? value * 2 : -value * 2 - 1);
  }

  bytes(): Buffer {
    return this.#bytes.subarray(0, this.#length);
  }
}

export const unzigzag = (value: number) => (value % 2 === 0 ? value / 2 : -(value + 1) / 2);
