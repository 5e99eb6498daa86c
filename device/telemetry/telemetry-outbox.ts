/**
 * The batch in flight: at most one, formed from the buffer's oldest windows, written to
 * `<dir>/batch.json` (atomically, as the exact payload) before it is first published, and
 * removed only after the broker's PUBACK and after the buffer's head moved past it.
 *
 * A batch, once formed, never changes: after a crash, a lost PUBACK or a reconnect the same bytes
 * go out again, so the backend, which keeps each (device, `firstSeq`) once, never counts a window
 * twice. Forming a new batch for windows already sent could give the same `firstSeq` another
 * `lastSeq` (the link turned metered, more windows closed), and the backend would keep the first
 * and never see the rest.
 */
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import {
  ESSENTIAL_METRICS,
  encodeTelemetryBatch,
  MAX_WINDOWS_PER_BATCH,
  TelemetryBatchV1,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import { isInsideWindows } from '../ota/download-window';
import { type DurabilityOptions, syncDirectory, writeFileAtomic, writePoint } from '../storage/atomic-file';

export interface BandwidthNow {
  readonly policy: BandwidthPolicy | undefined;
  readonly metered: boolean;
}

/**
 * True when windows must be cut to ESSENTIAL_METRICS: the link is metered and the policy has
 * windows, none open now. Without a policy, or a policy without windows, every time is inside.
 * Decided when a batch is formed; a batch in flight keeps what it was formed with.
 */
export function essentialsOnly({ policy, metered }: BandwidthNow, now: number): boolean {
  if (!metered || !policy?.windows) return false;
  return !isInsideWindows(policy.windows, policy.timeZone, now);
}

/** The window cut to ESSENTIAL_METRICS and marked `partial`. */
export function cutToEssentials(window: TelemetryWindowV1): TelemetryWindowV1 {
  const metrics = Object.fromEntries(
    Object.entries(window.metrics).filter(([name]) => ESSENTIAL_METRICS.includes(name)),
  );
  return { ...window, metrics, partial: true };
}

/** A batch in flight: the payload exactly as published, and the seqs it spans. */
export interface PendingBatch {
  readonly payload: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly count: number;
}

/**
 * Encodes as many of `windows` (ascending) as fit one batch: all, up to MAX_WINDOWS_PER_BATCH,
 * unless the encoded batch would pass MAX_BATCH_BYTES; then fewer.
 */
export function encodeLargestBatch(windows: readonly TelemetryWindowV1[]): TelemetryBatchV1 {
  let count = Math.min(windows.length, MAX_WINDOWS_PER_BATCH);
  for (;;) {
    try {
      return encodeTelemetryBatch(windows.slice(0, count));
    } catch (error) {
      if (count <= 1) throw error;
      count = Math.ceil(count / 2);
    }
  }
}

export class TelemetryOutbox {
  #pending: PendingBatch | undefined;

  private constructor(
    private readonly file: string,
    private readonly durability: DurabilityOptions,
    pending: PendingBatch | undefined,
  ) {
    this.#pending = pending;
  }

  /** Opens `<dir>/batch.json`; a file that does not hold a valid batch is discarded. */
  static async open(dir: string, durability: DurabilityOptions, log?: (m: string) => void) {
    const file = join(dir, 'batch.json');
    let pending: PendingBatch | undefined;
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (text !== undefined) {
      pending = parsePending(text);
      // Written atomically, so only a foreign or hand-edited file lands here.
      if (!pending) log?.(`telemetry: ${file} does not hold a batch; discarded`);
    }
    return new TelemetryOutbox(file, durability, pending);
  }

  /** The batch in flight, if any. */
  get pending(): PendingBatch | undefined {
    return this.#pending;
  }

  /** Encodes the windows (or the first of them that fit) into a batch and puts it on disk. */
  async form(windows: readonly TelemetryWindowV1[]): Promise<PendingBatch> {
    if (this.#pending) throw new Error('A telemetry batch is already in flight');
    const batch = encodeLargestBatch(windows);
    const payload = JSON.stringify(batch);
    await writeFileAtomic(this.file, payload, this.durability);
    this.#pending = { payload, firstSeq: batch.firstSeq, lastSeq: batch.lastSeq, count: batch.count };
    return this.#pending;
  }

  /** Removes the batch in flight (the broker has it and the buffer moved past it). */
  async clear(): Promise<void> {
    if (!this.#pending) return;
    writePoint(this.file, this.durability);
    await rm(this.file, { force: true });
    if (this.durability.fsync ?? true) await syncDirectory(dirname(this.file));
    this.#pending = undefined;
  }
}

function parsePending(text: string): PendingBatch | undefined {
  try {
    const parsed = TelemetryBatchV1.safeParse(JSON.parse(text));
    if (!parsed.success) return undefined;
    const { firstSeq, lastSeq, count } = parsed.data;
    return { payload: text, firstSeq, lastSeq, count };
  } catch {
    return undefined;
  }
}
