import type { AlertV1, TelemetryWindowV1 } from '../../contract/telemetry';
import type { DeviceProfile } from '../domain/device';
import type { Cohort, LatestHealth } from '../domain/telemetry';

/** A registered device as the ingest path needs it: where it is, what it is, its cohort now. */
export interface TelemetryDevice extends DeviceProfile {
  /** The `cohort` attribute on the device item, if set yet. */
  readonly cohort?: string;
  /** The highest telemetry seq the device item shows, if any. */
  readonly telemetrySeq?: number;
}

/**
 * What applying a batch's latest window to its device did: `applied` (it was newer), `stale` (the
 * device already shows this or a later seq: nothing written), `unknown` (no such registered device).
 */
export type LatestOutcome =
  | { readonly kind: 'applied' | 'stale'; readonly device: TelemetryDevice }
  | { readonly kind: 'unknown' };

/** A telemetry batch as the fleet table keeps it (`TELEMETRY#<firstSeq>` under the device). */
export interface StoredTelemetryBatch {
  readonly deviceId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** The decoded windows, cut to the essential metrics when `trimmed` (domain/telemetry.ts). */
  readonly windows: readonly TelemetryWindowV1[];
  readonly trimmed: boolean;
  readonly receivedAt: string;
  /** TTL, epoch seconds. */
  readonly expiresAt: number;
  /** The SQS message that carried it: its own retry may store it again, any other copy may not. */
  readonly ingestMessageId: string;
}

/** An alert as the fleet table keeps it (`ALERT#<alertId>` under the device). */
export interface StoredAlert {
  readonly deviceId: string;
  readonly alert: AlertV1;
  readonly receivedAt: string;
  /** TTL, epoch seconds. */
  readonly expiresAt: number;
  readonly ingestMessageId: string;
}

/** Where the ingest Lambdas keep telemetry: the fleet table (device items, batches, alerts, cohorts). */
export interface TelemetryStore {
  /**
   * Sets the device's latest health from `latest` only if the device is registered and shows no
   * seq at or past `latest.seq`: an older or repeated batch never rolls the latest back.
   */
  applyLatest(deviceId: string, latest: LatestHealth): Promise<LatestOutcome>;
  /**
   * Sets the device's `cohort` while `seq` is still its latest telemetry (a newer batch sets its
   * own). False when it no longer is.
   */
  setDeviceCohort(deviceId: string, cohort: Cohort, seq: number): Promise<boolean>;
  /** Creates the `COHORTS` entry if absent; true when this call created it. */
  addCohort(cohort: Cohort): Promise<boolean>;
  /**
   * Stores a batch unless it is there already. True when this message stored it: the first time,
   * or again on a retry of the same SQS message (whose history may not have been written). False
   * for a copy from any other message (a device resend): nothing is written.
   */
  putBatch(batch: StoredTelemetryBatch): Promise<boolean>;
  /** The registered device, for an alert's context; undefined when unknown or not registered. */
  getDevice(deviceId: string): Promise<TelemetryDevice | undefined>;
  /** Stores an alert unless there already (same rule as putBatch: true for its own message's retry). */
  putAlert(alert: StoredAlert): Promise<boolean>;
}
