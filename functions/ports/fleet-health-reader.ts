import type { AlertV1, TelemetryWindowV1 } from '../../contract/telemetry';
import type { FleetSummaryCohort } from '../domain/fleet-summary';

/** An ANOMALIES entry: a device the fleet analysis currently flags. */
export interface AnomalyEntry {
  readonly deviceId: string;
  readonly metric: string;
  readonly score: number;
  readonly value: number;
  readonly cohortMedian: number;
  readonly cohort: string;
  /** When it was flagged (ISO). */
  readonly since: string;
}

export interface AnomalyPage {
  readonly items: readonly AnomalyEntry[];
  /** Opaque; absent on the last page. */
  readonly nextCursor?: string;
}

/** An alert as ingestion stored it. */
export interface ReceivedAlert extends AlertV1 {
  /** When the backend took it (ISO). */
  readonly receivedAt: string;
}

/** What the fleet queries read of what ingestion and the analysis write (never writes). */
export interface FleetHealthReader {
  /**
   * Every COHORTS entry with its statistics. Grows with the number of cohorts (region × site ×
   * hardware type × version in use), not with the number of devices.
   */
  listCohorts(): Promise<FleetSummaryCohort[]>;
  /** One page of the ANOMALIES partition, by device id. Throws ValidationError for a foreign cursor. */
  listAnomalies(limit: number, cursor?: string): Promise<AnomalyPage>;
  /**
   * The device's latest windows starting at or after `since` (all if undefined), newest first,
   * at most `limit`; reads a bounded number of batch items, so may return fewer.
   */
  recentWindows(deviceId: string, since: Date | undefined, limit: number): Promise<TelemetryWindowV1[]>;
  /** The device's latest alerts at or after `since`, newest first, at most `limit`. */
  recentAlerts(deviceId: string, since: Date | undefined, limit: number): Promise<ReceivedAlert[]>;
}
