/**
 * The bounded on-disk buffer of closed windows, oldest first, until the cloud has them.
 *
 * ```
 * <dir>/windows/<firstSeq, 12 digits>.jsonl   segments: one window (TelemetryWindowV1) a line
 * <dir>/buffer.json                           head (first seq not yet acknowledged), next seq, gaps
 * ```
 *
 * - A window is appended as one line to the newest segment; a segment past `segmentBytes` is
 *   closed and the next append starts a new one. Appends are fsync'd unless `fsync` is off.
 * - Size cap: while the segments take more than `capBytes`, the oldest segment is deleted whole
 *   (oldest dropped first, at segment granularity, so nothing is ever rewritten). Windows it held
 *   that were neither acknowledged nor in the batch in flight count as dropped; that number is
 *   kept in `buffer.json` against the next kept window's seq and shows as that window's `dropped`
 *   when it is read.
 * - `acknowledge(lastSeq)` moves the head past a batch the broker acknowledged (written
 *   atomically) and deletes segments that hold nothing newer.
 * - Power cuts: a torn last line (the append that was cut) is ignored and cut off on reopen.
 * - `seq` is never reused. A seq is used (leaves the device) only inside a batch, and a batch is
 *   on disk before it is published (`telemetry-outbox.ts`) and removed only after the head moved
 *   past it. So the next seq derived on open, one above the highest of: the seqs on disk, the
 *   head, the persisted next seq, and the batch file's last seq (`minNextSeq`), is above every seq
 *   that ever left the device. A window torn on the way to disk was never published.
 */
import { mkdir, open, readdir, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { TelemetryWindowV1 } from '../../contract/telemetry';
import {
  type DurabilityOptions,
  readJsonFile,
  syncDirectory,
  writeJsonAtomic,
  writePoint,
} from '../storage/atomic-file';
import type { ClosedWindow } from './window-aggregator';

/** @default 8 MiB */
export const DEFAULT_BUFFER_BYTES = 8 * 1024 * 1024;

const BufferState = z.strictObject({
  head: z.number().int().nonnegative(),
  nextSeq: z.number().int().nonnegative(),
  /** seq of a kept window → windows dropped right before it. */
  gaps: z.record(z.string().regex(/^\d+$/), z.number().int().positive()),
});
type BufferState = z.infer<typeof BufferState>;

interface Segment {
  readonly path: string;
  /** The seqs of the valid lines, ascending. */
  readonly seqs: number[];
  bytes: number;
}

export interface WindowBufferOptions extends DurabilityOptions {
  /** The buffer's own directory (`<stateDir>/telemetry`). */
  readonly dir: string;
  /** @default DEFAULT_BUFFER_BYTES */
  readonly capBytes?: number;
  /** A segment is closed once it holds this many bytes. @default capBytes / 8, 4 KiB to 1 MiB */
  readonly segmentBytes?: number;
  /** No seq below this is handed out (one above the last seq of a batch on disk). @default 0 */
  readonly minNextSeq?: number;
  readonly log?: (message: string) => void;
}

export class WindowBuffer {
  readonly #segmentsDir: string;
  readonly #stateFile: string;
  readonly #capBytes: number;
  readonly #segmentBytes: number;
  #segments: Segment[];
  #state: BufferState;
  #droppedTotal = 0;
  /** Windows up to this seq are in the batch in flight: safe even if their segment goes. */
  #inFlightThrough = -1;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly options: WindowBufferOptions,
    segments: Segment[],
    state: BufferState,
  ) {
    this.#segmentsDir = join(options.dir, 'windows');
    this.#stateFile = join(options.dir, 'buffer.json');
    this.#capBytes = options.capBytes ?? DEFAULT_BUFFER_BYTES;
    this.#segmentBytes =
      options.segmentBytes ?? Math.min(1024 * 1024, Math.max(4096, Math.floor(this.#capBytes / 8)));
    this.#segments = segments;
    this.#state = state;
  }

  /** Opens the buffer in `options.dir`, recovering from a torn last line. */
  static async open(options: WindowBufferOptions): Promise<WindowBuffer> {
    const capBytes = options.capBytes ?? DEFAULT_BUFFER_BYTES;
    if (!Number.isInteger(capBytes) || capBytes < 16 * 1024)
      throw new Error('The telemetry buffer needs at least 16 KiB (bufferBytes)');
    const segmentsDir = join(options.dir, 'windows');
    await mkdir(segmentsDir, { recursive: true });
    const stored = await readJsonFile(join(options.dir, 'buffer.json'), BufferState);
    const names = (await readdir(segmentsDir)).filter((name) => /^\d{12}\.jsonl$/.test(name)).sort();
    const segments: Segment[] = [];
    for (const name of names) {
      const segment = await readSegment(join(segmentsDir, name), options);
      if (segment.seqs.length > 0) segments.push(segment);
      else await rm(segment.path, { force: true });
    }
    const lastOnDisk = segments.at(-1)?.seqs.at(-1) ?? -1;
    const head = stored?.head ?? 0;
    const state: BufferState = {
      head,
      nextSeq: Math.max(stored?.nextSeq ?? 0, head, lastOnDisk + 1, options.minNextSeq ?? 0),
      gaps: stored?.gaps ?? {},
    };
    return new WindowBuffer(options, segments, state);
  }

  /** Windows not yet acknowledged. */
  get pending(): number {
    let count = 0;
    for (const segment of this.#segments)
      for (const seq of segment.seqs) if (seq >= this.#state.head) count++;
    return count;
  }

  /** Bytes the segments take on disk. */
  get bytes(): number {
    return this.#segments.reduce((total, segment) => total + segment.bytes, 0);
  }

  /** The seq the next appended window gets. */
  get nextSeq(): number {
    return this.#state.nextSeq;
  }

  /** Windows this instance dropped because the buffer was full. */
  get droppedTotal(): number {
    return this.#droppedTotal;
  }

  /** Marks the windows up to `lastSeq` as in a batch on disk (or none, with -1). */
  setInFlightThrough(lastSeq: number): void {
    this.#inFlightThrough = lastSeq;
  }

  /** Gives the window the next seq, appends it, then keeps the buffer under its cap. */
  append(window: ClosedWindow): Promise<TelemetryWindowV1> {
    return this.#serially(async () => {
      const seq = this.#state.nextSeq;
      const line = `${JSON.stringify(TelemetryWindowV1.parse({ seq, ...window }))}\n`;
      let segment = this.#segments.at(-1);
      if (!segment || segment.bytes >= this.#segmentBytes) {
        segment = {
          path: join(this.#segmentsDir, `${String(seq).padStart(12, '0')}.jsonl`),
          seqs: [],
          bytes: 0,
        };
        await appendLine(segment.path, line, this.options);
        if (this.options.fsync ?? true) await syncDirectory(this.#segmentsDir);
        this.#segments.push(segment);
      } else await appendLine(segment.path, line, this.options);
      segment.seqs.push(seq);
      segment.bytes += Buffer.byteLength(line);
      this.#state.nextSeq = seq + 1;
      await this.#enforceCap();
      return { seq, ...window };
    });
  }

  /**
   * The oldest windows not yet acknowledged, ascending, at most `max`, each with the drops before
   * it (`dropped`).
   */
  oldest(max: number): Promise<TelemetryWindowV1[]> {
    return this.#serially(() => this.#oldest(max));
  }

  /**
   * Runs `use` on the oldest windows with no append (and so no drop) in between; `use` returns the
   * last seq it took into a batch on disk, which is then in flight. A batch is formed here, so a
   * window cannot be dropped and counted after it went into the batch.
   */
  withOldest(max: number, use: (windows: TelemetryWindowV1[]) => Promise<number | undefined>): Promise<void> {
    return this.#serially(async () => {
      const inFlight = await use(await this.#oldest(max));
      if (inFlight !== undefined) this.#inFlightThrough = inFlight;
    });
  }

  async #oldest(max: number): Promise<TelemetryWindowV1[]> {
    const windows: TelemetryWindowV1[] = [];
    for (const segment of this.#segments) {
      if (windows.length >= max) break;
      if ((segment.seqs.at(-1) ?? -1) < this.#state.head) continue;
      for (const window of await readWindows(segment.path, this.#state.head, max - windows.length)) {
        const dropped = (window.dropped ?? 0) + (this.#state.gaps[String(window.seq)] ?? 0);
        windows.push(dropped > 0 ? { ...window, dropped } : window);
        if (windows.length >= max) break;
      }
    }
    return windows;
  }

  /** The broker has every window up to `lastSeq`: move the head and free what it passed. */
  acknowledge(lastSeq: number): Promise<void> {
    return this.#serially(async () => {
      if (lastSeq < this.#state.head) return;
      const gaps = Object.fromEntries(
        Object.entries(this.#state.gaps).filter(([seq]) => Number(seq) > lastSeq),
      );
      this.#state = { ...this.#state, head: lastSeq + 1, gaps };
      await writeJsonAtomic(this.#stateFile, this.#state, this.options);
      while (this.#segments.length > 0 && (this.#segments[0]?.seqs.at(-1) ?? -1) <= lastSeq)
        await this.#deleteOldest();
    });
  }

  async #enforceCap(): Promise<void> {
    let dropped = 0;
    while (this.bytes > this.#capBytes && this.#segments.length > 1) {
      const oldest = this.#segments[0];
      if (!oldest) break;
      const lost = oldest.seqs.filter((seq) => seq >= this.#state.head && seq > this.#inFlightThrough);
      await this.#deleteOldest();
      dropped += lost.length;
      if (lost.length === 0) continue;
      const nextKept = this.#segments[0]?.seqs[0] ?? this.#state.nextSeq;
      const key = String(nextKept);
      // Gaps recorded against windows now gone move on to the next kept window (those of windows
      // in the batch in flight stay: that batch carries them).
      let carried = 0;
      for (const [seq, count] of Object.entries(this.#state.gaps))
        if (Number(seq) < nextKept && Number(seq) > this.#inFlightThrough) {
          carried += count;
          delete this.#state.gaps[seq];
        }
      this.#state.gaps[key] = (this.#state.gaps[key] ?? 0) + lost.length + carried;
    }
    if (dropped === 0) return;
    this.#droppedTotal += dropped;
    this.options.log?.(`telemetry buffer full: dropped the ${dropped} oldest windows`);
    await writeJsonAtomic(this.#stateFile, this.#state, this.options);
  }

  async #deleteOldest(): Promise<void> {
    const segment = this.#segments.shift();
    if (!segment) return;
    writePoint(segment.path, this.options);
    await rm(segment.path, { force: true });
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }
}

async function appendLine(path: string, line: string, options: DurabilityOptions): Promise<void> {
  writePoint(path, options);
  const file = await open(path, 'a');
  try {
    await file.write(line);
    if (options.fsync ?? true) await file.sync();
  } finally {
    await file.close();
  }
}

/**
 * Up to `max` valid windows of a segment from seq `fromSeq` on; lines that do not parse (a torn
 * append) are skipped. Lines below `fromSeq` are not checked against the schema: a backlog reads
 * the same segment for several batches.
 */
async function readWindows(path: string, fromSeq: number, max: number): Promise<TelemetryWindowV1[]> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return '';
    throw error;
  });
  const windows: TelemetryWindowV1[] = [];
  let previous = fromSeq - 1;
  for (const line of text.split('\n')) {
    if (windows.length >= max) break;
    const window = parseLine(line, fromSeq);
    if (!window || window.seq <= previous) continue;
    windows.push(window);
    previous = window.seq;
  }
  return windows;
}

function parseLine(line: string, fromSeq = 0): TelemetryWindowV1 | undefined {
  if (line.length === 0) return undefined;
  try {
    const json: unknown = JSON.parse(line);
    const seq = (json as { seq?: unknown } | null)?.seq;
    if (typeof seq === 'number' && seq < fromSeq) return undefined;
    const parsed = TelemetryWindowV1.safeParse(json);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Reads a segment on open. A last line without its newline is the append a power cut tore: it
 * is cut off, so the next append starts on a line of its own.
 */
async function readSegment(path: string, options: WindowBufferOptions): Promise<Segment> {
  const text = await readFile(path);
  const end = text.lastIndexOf(0x0a) + 1;
  if (end < text.length) {
    options.log?.(`telemetry buffer: ${path}: ignored a torn last line (${text.length - end} bytes)`);
    await truncate(path, end);
  }
  const seqs: number[] = [];
  let previous = -1;
  for (const line of text.subarray(0, end).toString('utf8').split('\n')) {
    const window = parseLine(line);
    if (!window) {
      if (line.length > 0) options.log?.(`telemetry buffer: ${path}: skipped a line that does not parse`);
      continue;
    }
    if (window.seq <= previous) continue;
    seqs.push(window.seq);
    previous = window.seq;
  }
  return { path, seqs, bytes: end };
}
