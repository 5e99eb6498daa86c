import type { DeviceAnomaly, DeviceAnomalyState } from '../domain/anomaly';
import type { CohortStatistics } from '../domain/cohort-statistics';

/** One device's new anomaly state, from one analysis run. */
export interface DeviceAnomalyChange {
  readonly deviceId: string;
  /** The analysis run (the execution's name): a device takes at most one change per run. */
  readonly runId: string;
  readonly next: DeviceAnomalyState;
  /** Flagged: the ANOMALIES entry is put; cleared: it is deleted (`previous` was the flag). */
  readonly transition?: 'flagged' | 'cleared';
  readonly previous?: DeviceAnomaly;
}

/**
 * - `applied`: written;
 * - `already-applied`: this run already changed the device (a retried step): nothing written;
 * - `gone`: the device is no longer registered: nothing written.
 */
export type AnomalyWriteOutcome = 'applied' | 'already-applied' | 'gone';

/** What the fleet analysis writes: devices' anomaly state and flags, and cohort statistics. */
export interface AnomalyStore {
  /**
   * Writes the device's streak and flag, and with a transition its ANOMALIES entry, all or
   * nothing, only if this run has not written the device yet.
   */
  applyDeviceChange(change: DeviceAnomalyChange): Promise<AnomalyWriteOutcome>;
  /** Onto the cohort's COHORTS entry, unless a later analysis already wrote it. */
  writeCohortStatistics(cohort: string, statistics: CohortStatistics): Promise<void>;
}
