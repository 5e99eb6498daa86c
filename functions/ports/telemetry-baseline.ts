import type { Cohort, DeviceTelemetry } from '../domain/telemetry-gate';

/** A device's latest telemetry and where it stands: its cohort, but for the version. */
export interface LocatedDeviceTelemetry extends DeviceTelemetry {
  readonly region: string;
  readonly site: string;
  readonly hardwareType: string;
}

/**
 * The latest telemetry the fleet keeps per device (the device items the telemetry ingestion
 * writes), read for a wave's telemetry gates. Both reads are bounded by their arguments, never by
 * the fleet: a gate costs the same at 100 devices and at 100k.
 */
export interface TelemetryBaseline {
  /**
   * The latest telemetry of these devices (at most 100: one BatchGetItem). Devices not registered
   * are left out; a device that never sent telemetry comes back with no metrics.
   */
  latestOfDevices(deviceIds: readonly string[]): Promise<LocatedDeviceTelemetry[]>;
  /**
   * Up to `limit` (at most 100) devices of the cohort, with their latest telemetry (one Query of
   * the `byCohort` index). Which devices: the first by device id, fresh or not.
   */
  latestOfCohort(cohort: Cohort, limit: number): Promise<DeviceTelemetry[]>;
}

/** What one BatchGetItem and one Query page may hold: the reads a gate makes stay this size. */
export const MAX_TELEMETRY_READ = 100;
