import { decodeTelemetryBatch, type TelemetryBatchV1 } from '../../contract/telemetry';
import {
  cohortKey,
  cohortOf,
  expiresAfterDays,
  historyRows,
  ingestDate,
  latestHealth,
  recentWindows,
  TELEMETRY_RETENTION_DAYS,
} from '../domain/telemetry';
import type { Clock } from '../ports/clock';
import type { TelemetryHistory } from '../ports/telemetry-history';
import type { TelemetryStore } from '../ports/telemetry-store';

/** One telemetry batch as its SQS message brought it: the device is the topic's, set by the rule. */
export interface TelemetryMessage {
  readonly messageId: string;
  readonly deviceId: string;
  readonly batch: TelemetryBatchV1;
}

/**
 * What became of a message: `accepted` (stored, its windows in this invocation's history),
 * `duplicate` (a copy of a batch another message stored: nothing written), `refused` (the batch
 * does not decode or check: nothing written), `unknown-device`, or `failed` (an AWS error: retried).
 */
export type TelemetryOutcome =
  | { readonly kind: 'accepted'; readonly latest: 'applied' | 'stale'; readonly cohortChanged: boolean }
  | { readonly kind: 'duplicate' | 'unknown-device' }
  | { readonly kind: 'refused'; readonly reason: string }
  | { readonly kind: 'failed'; readonly error: unknown };

export interface RecordTelemetryResult {
  readonly outcomes: ReadonlyMap<string, TelemetryOutcome>;
  /** Messages to retry: those that failed, and those whose rows were in a history object that failed. */
  readonly failedMessageIds: readonly string[];
  readonly historyRows: number;
  /** Why the history object could not be written, if it could not. */
  readonly historyError?: unknown;
}

/** Messages worked on at once: bounds the decoded batches in memory (each ≤ 1 MB of JSON). */
export const TELEMETRY_CONCURRENCY = 8;

/**
 * Records the telemetry batches of one ingest invocation (docs/architecture.md, "Telemetry and alerts").
 *
 * Per message, in this order:
 * 1. Decode and check the batch (contract/telemetry.ts). A bad one is refused: nothing written.
 * 2. Apply its latest window to the device item, conditional on the device being registered and
 *    showing an older seq. An unknown device ends here (nothing written). The write returns the
 *    device's region, site, hardware type and cohort, applied or not, so there is no read first.
 *    When the cohort changed: set it on the device and create its `COHORTS` entry if absent.
 * 3. Put the `TELEMETRY#<firstSeq>` item, conditional on its absence (or on being this same SQS
 *    message's own earlier attempt). Stored: its windows become history rows.
 * Then the invocation writes one history object with the rows of every batch it stored.
 *
 * Why this order: every DynamoDB write is conditional and idempotent, so a retry from any point
 * re-runs them without writing twice; the device is checked before anything about it is written.
 * History is written last and still never lost: the TELEMETRY item remembers the SQS message that
 * stored it, and a retry of that same message (its history failed, or it failed before) is let
 * through the put again and so writes its rows again, while a device's resend (another message)
 * is not. When the history write fails, every message with rows in it is reported failed and
 * retried. Rows repeat only when the object was written and the invocation still failed after it
 * (a timeout while reporting back to SQS): rows are keyed by (device_id, seq) for that case.
 * Writing history first instead would need a read per batch to know which batches are new.
 */
export const makeRecordTelemetry =
  (ports: { readonly store: TelemetryStore; readonly history: TelemetryHistory; readonly clock: Clock }) =>
  async (invocationId: string, messages: readonly TelemetryMessage[]): Promise<RecordTelemetryResult> => {
    const now = ports.clock.now();
    const history = ports.history.begin(invocationId, ingestDate(now));
    const outcomes = new Map<string, TelemetryOutcome>();
    const withRows: string[] = [];

    const recordOne = async ({ messageId, deviceId, batch }: TelemetryMessage): Promise<TelemetryOutcome> => {
      const decoded = decodeTelemetryBatch(batch);
      if (!decoded.ok) return { kind: 'refused', reason: decoded.reason };
      const latest = latestHealth(decoded.windows);
      const applied = await ports.store.applyLatest(deviceId, latest);
      if (applied.kind === 'unknown') return { kind: 'unknown-device' };
      const { device } = applied;

      // The device shows this batch as its latest (just applied, or by this message's earlier
      // attempt), and its cohort is not this version's yet.
      let cohortChanged = false;
      const cohort = cohortOf(device, latest.firmwareVersion);
      if (device.telemetrySeq === latest.seq && device.cohort !== cohortKey(cohort)) {
        cohortChanged = await ports.store.setDeviceCohort(deviceId, cohort, latest.seq);
        if (cohortChanged) await ports.store.addCohort(cohort);
      }

      const recent = recentWindows(decoded.windows);
      const stored = await ports.store.putBatch({
        deviceId,
        firstSeq: batch.firstSeq,
        lastSeq: batch.lastSeq,
        windows: recent.windows,
        trimmed: recent.trimmed,
        receivedAt: now.toISOString(),
        expiresAt: expiresAfterDays(now, TELEMETRY_RETENTION_DAYS),
        ingestMessageId: messageId,
      });
      if (!stored) return { kind: 'duplicate' };
      history.append(historyRows({ ...device, deviceId }, decoded.windows));
      withRows.push(messageId);
      return { kind: 'accepted', latest: applied.kind, cohortChanged };
    };

    await forEachConcurrently(messages, TELEMETRY_CONCURRENCY, async (message) => {
      try {
        outcomes.set(message.messageId, await recordOne(message));
      } catch (error) {
        outcomes.set(message.messageId, { kind: 'failed', error });
      }
    });

    const failed = [...outcomes].filter(([, o]) => o.kind === 'failed').map(([id]) => id);
    const rows = history.rowCount;
    try {
      await history.commit();
    } catch (historyError) {
      return { outcomes, failedMessageIds: [...failed, ...withRows], historyRows: 0, historyError };
    }
    return { outcomes, failedMessageIds: failed, historyRows: rows };
  };

/** Runs `work` on every item, at most `limit` at once. */
async function forEachConcurrently<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
