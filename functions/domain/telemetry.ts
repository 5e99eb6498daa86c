/**
 * Telemetry as the control plane keeps it (docs/architecture.md, "Telemetry and alerts"): the latest
 * health of each device, its cohort, the recent windows and the history rows. Pure: the ingest
 * use cases (use-cases/record-telemetry.ts, record-alert.ts) decide with these, the adapters store.
 */
import { ESSENTIAL_METRICS, type HealthState, type TelemetryWindowV1 } from '../../contract/telemetry';

/** A batch's windows stay on the fleet table this long (TTL), for the device's recent view. */
export const TELEMETRY_RETENTION_DAYS = 14;
/** Alerts stay on the fleet table this long (TTL). */
export const ALERT_RETENTION_DAYS = 90;
/** History objects in the telemetry bucket expire after this many days. */
export const HISTORY_RETENTION_DAYS = 400;

/** The four statistics of a metric the device item keeps for its latest window (and analysis reads). */
export interface LatestMetric {
  readonly p95: number;
  readonly mean: number;
  readonly max: number;
  readonly sum: number;
}

/** What a batch tells about its device now: its latest window, as the device item keeps it. */
export interface LatestHealth {
  /** The latest window's `seq` (the batch's `lastSeq`): an update with a lower one is stale. */
  readonly seq: number;
  readonly health: HealthState;
  /** When the latest window ended (ISO). */
  readonly healthAt: string;
  /** The latest window's length: a `sum` per hour (restarts per device-hour) needs it. */
  readonly windowSeconds: number;
  readonly metrics: Readonly<Record<string, LatestMetric>>;
  /** The latest window's firmware version: it sets the device's cohort. */
  readonly firmwareVersion: string;
}

/** The latest window of a batch (windows ascend by seq, as decodeTelemetryBatch checked). */
export function latestHealth(windows: readonly TelemetryWindowV1[]): LatestHealth {
  const latest = windows.at(-1);
  if (!latest) throw new Error('A telemetry batch has at least one window');
  const metrics: Record<string, LatestMetric> = {};
  for (const [name, a] of Object.entries(latest.metrics)) {
    metrics[name] = { p95: a.p95, mean: a.mean, max: a.max, sum: a.sum };
  }
  return {
    seq: latest.seq,
    health: latest.health,
    healthAt: windowEnd(latest).toISOString(),
    windowSeconds: latest.seconds,
    metrics,
    firmwareVersion: latest.firmwareVersion,
  };
}

const windowEnd = (w: TelemetryWindowV1) => new Date(w.start + w.seconds * 1000);

/** Devices that share where they are, what they are and what they run: compared by the analysis. */
export interface Cohort {
  readonly region: string;
  readonly site: string;
  readonly hardwareType: string;
  readonly version: string;
}

/**
 * `<region>#<site>#<hardwareType>#<version>`, the `cohort` attribute and the `COHORTS` sort key.
 * Labels may hold `#` (LABEL_PATTERN), so `%` and `#` inside a part are written `%25` and `%23`:
 * two different cohorts never share a key, and labels without them read as in the plan.
 */
export function cohortKey(cohort: Cohort): string {
  return [cohort.region, cohort.site, cohort.hardwareType, cohort.version].map(escapeCohortPart).join('#');
}

const escapeCohortPart = (part: string) => part.replaceAll('%', '%25').replaceAll('#', '%23');

/** The cohort a device lands in when it runs `version`. */
export const cohortOf = (device: Omit<Cohort, 'version'>, version: string) => ({
  region: device.region,
  site: device.site,
  hardwareType: device.hardwareType,
  version,
});

/** One aggregate of one metric over one window, as history rows carry it. */
export interface HistoryAggregate {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly p95: number;
  readonly sum: number;
}

/**
 * One row of the telemetry history (one window of one device), the columns of the Glue table
 * (lib/fleet-telemetry.ts). Keyed by (device_id, seq).
 */
export interface HistoryRow {
  readonly device_id: string;
  readonly seq: number;
  /** ISO. */
  readonly window_start: string;
  readonly seconds: number;
  readonly firmware_version: string;
  readonly health: HealthState;
  readonly region: string;
  readonly site: string;
  readonly hardware_type: string;
  readonly metrics: Readonly<Record<string, HistoryAggregate>>;
}

/** The history rows of a batch's windows, with the device's place in the fleet. */
export function historyRows(
  device: Omit<Cohort, 'version'> & { readonly deviceId: string },
  windows: readonly TelemetryWindowV1[],
): HistoryRow[] {
  return windows.map((w) => ({
    device_id: device.deviceId,
    seq: w.seq,
    window_start: new Date(w.start).toISOString(),
    seconds: w.seconds,
    firmware_version: w.firmwareVersion,
    health: w.health,
    region: device.region,
    site: device.site,
    hardware_type: device.hardwareType,
    metrics: w.metrics,
  }));
}

/**
 * DynamoDB's item limit is 400 KB. A contract-valid batch (120 windows × 32 metrics) can decode to
 * about 1 MB, so the recent windows kept on the fleet table are held under this (JSON bytes, an
 * upper bound of DynamoDB's item size for these shapes), with room for the other attributes.
 */
export const MAX_RECENT_WINDOWS_BYTES = 300 * 1024;

/**
 * The windows the fleet table keeps for a batch: all of them when they fit in
 * MAX_RECENT_WINDOWS_BYTES, else each cut to ESSENTIAL_METRICS (`trimmed`; the history keeps every
 * metric). Cut windows of 120 × 4 metrics take about 60 KB, so they always fit.
 */
export function recentWindows(windows: readonly TelemetryWindowV1[]): {
  readonly windows: readonly TelemetryWindowV1[];
  readonly trimmed: boolean;
} {
  if (jsonBytes(windows) <= MAX_RECENT_WINDOWS_BYTES) return { windows, trimmed: false };
  const cut = windows.map((w) => ({
    ...w,
    metrics: Object.fromEntries(
      Object.entries(w.metrics).filter(([name]) => ESSENTIAL_METRICS.includes(name)),
    ),
  }));
  return { windows: cut, trimmed: true };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));

/** Epoch seconds `days` after `now`: a DynamoDB TTL. */
export const expiresAfterDays = (now: Date, days: number) => Math.floor(now.getTime() / 1000) + days * 86_400;

/** The UTC date (`YYYY-MM-DD`) a history object is filed under: the day it was ingested. */
export const ingestDate = (now: Date) => now.toISOString().slice(0, 10);
