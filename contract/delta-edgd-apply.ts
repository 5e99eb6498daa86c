/**
 * Applies EDGD v1 patches (delta-edgd-format.ts, docs/delta-format.md) in bounded memory, whatever
 * the image size: the base is read by random access (positioned reads through a small block
 * cache), the three streams are decompressed incrementally, each from its own byte range of the
 * patch, and the output is produced in order, chunk by chunk, for the caller to hash and write.
 *
 * What it holds: BASE_CACHE_BLOCKS × BASE_BLOCK_BYTES of base, one output chunk, and per stream
 * one zstd window (≤ 2^EDGD_MAX_WINDOW_LOG, 8 MiB as made) plus a read-ahead chunk: about 30 MB
 * at most, besides the runtime.
 *
 * Anything the patch says is checked before it is acted on: steps that would read outside the
 * base or write past the header's target length, streams that end early or have bytes left over,
 * and a header whose base length differs from the base given all fail with an EdgdFormatError.
 */
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { constants, createBrotliDecompress, createZstdDecompress } from 'node:zlib';
import {
  decodeEdgdHeader,
  EDGD_HEADER_BYTES,
  EDGD_MAX_WINDOW_LOG,
  EDGD_STREAM_ZSTD,
  EdgdFormatError,
  type EdgdHeader,
  type EdgdStreamCompression,
  unzigzag,
} from './delta-edgd-format';

/** A base image read by position. */
export interface RandomAccessBytes {
  readonly length: number;
  /** Reads up to `length` bytes at `position` into `into` at `offset`; resolves how many were read. */
  read(into: Uint8Array, offset: number, length: number, position: number): Promise<number>;
}

/** A patch whose byte ranges can be streamed ([start, end)). */
export interface PatchSource {
  readonly length: number;
  range(start: number, end: number): Readable;
}

export const BASE_BLOCK_BYTES = 64 * 1024;
export const BASE_CACHE_BLOCKS = 16;
const OUTPUT_CHUNK_BYTES = 256 * 1024;

/** A Buffer as a base (tests, and the builder's check of a fresh patch). */
export const bytesBase = (bytes: Uint8Array): RandomAccessBytes => ({
  length: bytes.length,
  read: async (into, offset, length, position) => {
    const n = Math.max(0, Math.min(length, bytes.length - position));
    into.set(bytes.subarray(position, position + n), offset);
    return n;
  },
});

/** A Buffer as a patch. */
export const bytesPatch = (bytes: Uint8Array): PatchSource => ({
  length: bytes.length,
  range: (start, end) => Readable.from([Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start)]),
});

/** A file as a base or patch, read through one open handle; `close()` when done. */
export async function openFile(
  path: string,
): Promise<RandomAccessBytes & PatchSource & { close(): Promise<void> }> {
  const handle = await open(path, 'r');
  const { size } = await handle.stat();
  return {
    length: size,
    read: async (into, offset, length, position) =>
      (await handle.read(into, offset, length, position)).bytesRead,
    range: (start, end) =>
      end > start
        ? handle.createReadStream({ start, end: end - 1, autoClose: false, highWaterMark: 4 * 1024 })
        : Readable.from([]),
    close: () => handle.close(),
  };
}

/** The base through a small LRU cache of aligned blocks. */
class BaseCache {
  readonly #blocks = new Map<number, Buffer>();
  /** Blocks read (for tests and the benchmark's curiosity). */
  misses = 0;

  constructor(private readonly base: RandomAccessBytes) {}

  /** Bytes at `position`, at most `max` and not past the end of the block that holds it. */
  async bytesAt(position: number, max: number): Promise<Buffer> {
    const index = Math.floor(position / BASE_BLOCK_BYTES);
    let block = this.#blocks.get(index);
    if (block) {
      this.#blocks.delete(index);
    } else {
      // The least recently used block's memory is reused: a patch that jumps about the base makes
      // no garbage here.
      let memory: Buffer | undefined;
      if (this.#blocks.size >= BASE_CACHE_BLOCKS) {
        const oldest = this.#blocks.keys().next().value as number;
        memory = this.#blocks.get(oldest);
        this.#blocks.delete(oldest);
      }
      this.misses++;
      const start = index * BASE_BLOCK_BYTES;
      const want = Math.min(BASE_BLOCK_BYTES, this.base.length - start);
      block =
        (memory && memory.buffer.byteLength >= want
          ? Buffer.from(memory.buffer, memory.byteOffset, want)
          : undefined) ?? Buffer.allocUnsafe(BASE_BLOCK_BYTES).subarray(0, want);
      let got = 0;
      while (got < want) {
        const n = await this.base.read(block, got, want - got, start + got);
        if (n <= 0) throw new EdgdFormatError('the base ended before its length');
        got += n;
      }
    }
    this.#blocks.set(index, block);
    const from = position - index * BASE_BLOCK_BYTES;
    return block.subarray(from, Math.min(block.length, from + max));
  }
}

/** Pulls a decompressed stream in pieces of the size the apply asks for. */
class StreamCursor {
  readonly #iterator: AsyncIterator<Buffer>;
  #chunk: Buffer = Buffer.alloc(0);
  #offset = 0;

  constructor(
    readonly name: string,
    source: Readable,
    compression: EdgdStreamCompression,
  ) {
    // Brotli's window is at most 2^24 unless large windows are allowed, which they are not here.
    const decompress =
      compression === EDGD_STREAM_ZSTD
        ? createZstdDecompress({ params: { [constants.ZSTD_d_windowLogMax]: EDGD_MAX_WINDOW_LOG } })
        : createBrotliDecompress();
    source.on('error', (error) => decompress.destroy(error));
    this.#iterator = source.pipe(decompress)[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#offset >= this.#chunk.length) {
      let next: IteratorResult<Buffer>;
      try {
        next = await this.#iterator.next();
      } catch (error) {
        throw new EdgdFormatError(`${this.name} stream: ${(error as Error).message}`);
      }
      if (next.done) return false;
      this.#chunk = next.value;
      this.#offset = 0;
    }
    return true;
  }

  /** Up to `max` (> 0) bytes; fails if the stream has ended. */
  async take(max: number): Promise<Buffer> {
    if (!(await this.#fill())) throw new EdgdFormatError(`${this.name} stream ended early`);
    const n = Math.min(max, this.#chunk.length - this.#offset);
    const piece = this.#chunk.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return piece;
  }

  async varint(): Promise<number> {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 8; i++) {
      if (this.#offset >= this.#chunk.length && !(await this.#fill()))
        throw new EdgdFormatError(`${this.name} stream ended early`);
      const byte = this.#chunk[this.#offset++] as number;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 0x80;
    }
    throw new EdgdFormatError(`${this.name} stream: varint too long`);
  }

  async assertEnded(): Promise<void> {
    if (await this.#fill()) throw new EdgdFormatError(`${this.name} stream has bytes left over`);
  }

  async close(): Promise<void> {
    await this.#iterator.return?.();
  }
}

/**
 * Every decompressed chunk is a fresh Buffer, so an apply leaves garbage at the rate it writes,
 * and V8 collects ArrayBuffers only once some 64 MB of them have piled up. Where the runtime
 * exposes `gc` (the agent runs with --expose-gc), a collection every GC_EVERY_BYTES of output
 * keeps that pile, and so the apply's memory, small; it costs a few ms each time.
 */
const GC_EVERY_BYTES = 16 * 2 ** 20;
function collectGarbageEvery(written: number): void {
  if (written % GC_EVERY_BYTES < OUTPUT_CHUNK_BYTES) (globalThis as { gc?: () => void }).gc?.();
}

/** Reads the patch's header. */
export async function readEdgdHeader(patch: PatchSource): Promise<EdgdHeader> {
  const chunks: Buffer[] = [];
  for await (const chunk of patch.range(0, Math.min(EDGD_HEADER_BYTES, patch.length)))
    chunks.push(chunk as Buffer);
  return decodeEdgdHeader(Buffer.concat(chunks), patch.length);
}

/**
 * The rebuilt image, chunk by chunk. Fails (EdgdFormatError) on a patch that is not EDGD v1, is
 * made for a base of another length, or is inconsistent; the caller still checks the output's
 * hash, which a patch for another base of the same length would get wrong.
 */
export async function* applyEdgdDelta(base: RandomAccessBytes, patch: PatchSource): AsyncGenerator<Buffer> {
  const header = await readEdgdHeader(patch);
  if (header.baseLength !== base.length)
    throw new EdgdFormatError(`the patch is for a base of ${header.baseLength} bytes, not ${base.length}`);
  const controlStart = EDGD_HEADER_BYTES;
  const diffStart = controlStart + header.controlLength;
  const extraStart = diffStart + header.diffLength;
  const [controlCompression, diffCompression, extraCompression] = header.compression;
  const control = new StreamCursor('control', patch.range(controlStart, diffStart), controlCompression);
  const diff = new StreamCursor('diff', patch.range(diffStart, extraStart), diffCompression);
  const extra = new StreamCursor('extra', patch.range(extraStart, patch.length), extraCompression);
  const cache = new BaseCache(base);
  const { targetLength } = header;
  try {
    let out = Buffer.allocUnsafe(Math.min(OUTPUT_CHUNK_BYTES, Math.max(targetLength, 1)));
    let used = 0;
    let written = 0;
    let basePosition = 0;
    while (written + used < targetLength) {
      const copy = await control.varint();
      const insert = await control.varint();
      const seek = unzigzag(await control.varint());
      if (written + used + copy + insert > targetLength)
        throw new EdgdFormatError('a step writes past the target length');
      if (basePosition < 0 || basePosition + copy > base.length)
        throw new EdgdFormatError('a step reads outside the base');
      for (let left = copy; left > 0; ) {
        if (used === out.length) {
          yield out;
          written += used;
          collectGarbageEvery(written);
          used = 0;
          out = Buffer.allocUnsafe(Math.min(OUTPUT_CHUNK_BYTES, targetLength - written));
        }
        const differences = await diff.take(Math.min(left, out.length - used));
        const n = differences.length;
        for (let done = 0; done < n; ) {
          const from = await cache.bytesAt(basePosition, n - done);
          for (let i = 0; i < from.length; i++)
            out[used + i] = ((from[i] as number) + (differences[done + i] as number)) & 0xff;
          used += from.length;
          done += from.length;
          basePosition += from.length;
        }
        left -= n;
      }
      for (let left = insert; left > 0; ) {
        if (used === out.length) {
          yield out;
          written += used;
          collectGarbageEvery(written);
          used = 0;
          out = Buffer.allocUnsafe(Math.min(OUTPUT_CHUNK_BYTES, targetLength - written));
        }
        const bytes = await extra.take(Math.min(left, out.length - used));
        bytes.copy(out, used);
        used += bytes.length;
        left -= bytes.length;
      }
      basePosition += seek;
    }
    await control.assertEnded();
    await diff.assertEnded();
    await extra.assertEnded();
    if (used > 0) yield out.subarray(0, used);
  } finally {
    await Promise.all([control.close(), diff.close(), extra.close()]);
  }
}

/** Collects the rebuilt image (tests and small images). */
export async function collectEdgd(base: Uint8Array, patch: Uint8Array): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of applyEdgdDelta(bytesBase(base), bytesPatch(patch))) chunks.push(chunk);
  return Buffer.concat(chunks);
}
