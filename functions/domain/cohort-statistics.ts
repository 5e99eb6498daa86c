/**
 * What the fleet analysis says of a cohort (devices of one region, site, hardware type and
 * version) and of the whole fleet: counts and per-metric medians/p95 across devices. The
 * cohort's figures go onto its COHORTS entry (read by GET /fleet/summary and /fleet/metrics) and
 * to CloudWatch; the fleet's are the sums of its cohorts', so nothing ever reads every device.
 */
import { nearestRankP95 } from '../../contract/telemetry';
import { type DeviceAnomalyState, SCORED_METRICS, type WindowStat } from './anomaly';

/** A cohort as its COHORTS entry names it. */
export interface CohortEntry {
  /** `<region>#<site>#<hardwareType>#<version>` */
  readonly cohort: string;
  readonly region: string;
  readonly site: string;
  readonly hardwareType: string;
  readonly version: string;
}

export type DeviceHealth = 'healthy' | 'degraded' | 'unhealthy';

/** One device of a cohort as the analysis reads it (the byCohort index's projection). */
export interface CohortDevice extends DeviceAnomalyState {
  readonly deviceId: string;
  readonly health?: DeviceHealth;
  /** End of the device's latest telemetry window (ISO). */
  readonly healthAt?: string;
  /** Metric → aggregates of the latest window. */
  readonly metrics?: Readonly<Record<string, Partial<Record<WindowStat, number>>>>;
  readonly connectionState?: string;
}

export interface HealthCounts {
  readonly healthy: number;
  readonly degraded: number;
  readonly unhealthy: number;
  /** Devices without fresh telemetry: their latest verdict is too old to count. */
  readonly unknown: number;
}

/** Across the fresh devices, per scored metric: the median and p95 (nearest rank) of their values. */
export interface MetricSpread {
  readonly median: number;
  readonly p95: number;
  readonly devices: number;
}

/** Written onto the cohort's COHORTS entry. */
export interface CohortStatistics {
  readonly devices: number;
  readonly fresh: number;
  readonly connected: number;
  readonly health: HealthCounts;
  readonly anomalous: number;
  readonly metrics: Readonly<Record<string, MetricSpread>>;
  readonly analyzedAt: string;
  /** Whether its devices were scored (at least MIN_SCORED_DEVICES with fresh telemetry). */
  readonly scored: boolean;
}

/** Whether the device's latest telemetry is recent enough to count at `analyzedAt`. */
export function isFresh(device: CohortDevice, analyzedAtMs: number, freshForMs: number): boolean {
  if (device.healthAt === undefined) return false;
  const at = Date.parse(device.healthAt);
  return Number.isFinite(at) && analyzedAtMs - at <= freshForMs;
}

/** The value a scored metric is compared on for this device, if its latest window has it. */
export function metricValue(device: CohortDevice, metric: string, stat: WindowStat): number | undefined {
  const value = device.metrics?.[metric]?.[stat];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Counts and spreads of a cohort; `anomalous` and `scored` come from the scoring. */
export function cohortStatistics(
  devices: readonly CohortDevice[],
  fresh: ReadonlySet<string>,
  scoring: { readonly anomalous: number; readonly scored: boolean; readonly analyzedAt: string },
): CohortStatistics {
  const health = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  let connected = 0;
  for (const d of devices) {
    if (d.connectionState === 'connected') connected++;
    if (fresh.has(d.deviceId) && d.health !== undefined) health[d.health]++;
    else health.unknown++;
  }
  const metrics: Record<string, MetricSpread> = {};
  for (const { metric, stat } of SCORED_METRICS) {
    const values = devices
      .filter((d) => fresh.has(d.deviceId))
      .flatMap((d) => metricValue(d, metric, stat) ?? [])
      .sort((a, b) => a - b);
    if (values.length === 0) continue;
    metrics[metric] = { median: medianOfSorted(values), p95: nearestRankP95(values), devices: values.length };
  }
  return {
    devices: devices.length,
    fresh: fresh.size,
    connected,
    health,
    anomalous: scoring.anomalous,
    metrics,
    analyzedAt: scoring.analyzedAt,
    scored: scoring.scored,
  };
}

function medianOfSorted(sorted: readonly number[]): number {
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** What one cohort's analysis hands back to the state machine: small, for totals and CloudWatch. */
export interface CohortSummary {
  readonly cohort: string;
  readonly site: string;
  readonly hardwareType: string;
  readonly version: string;
  readonly devices: number;
  readonly fresh: number;
  readonly connected: number;
  readonly healthy: number;
  readonly unhealthy: number;
  readonly anomalous: number;
  readonly scored: boolean;
  readonly memoryP95MiB?: number;
  readonly cpuP95Percent?: number;
  /** Devices flagged and cleared this run, and device items written (streak/flag changes). */
  readonly flagged: number;
  readonly cleared: number;
  readonly deviceWrites: number;
}

/** The fleet's figures, summed cohort by cohort as the analysis pages through them. */
export interface FleetTotals {
  readonly cohorts: number;
  readonly devices: number;
  readonly fresh: number;
  readonly connected: number;
  readonly unhealthy: number;
  readonly anomalous: number;
  /** Cohorts whose analysis failed after its retries (their devices are not counted). */
  readonly failedCohorts: number;
}

export const NO_TOTALS: FleetTotals = {
  cohorts: 0,
  devices: 0,
  fresh: 0,
  connected: 0,
  unhealthy: 0,
  anomalous: 0,
  failedCohorts: 0,
};

/** A cohort's result as the state machine's Map hands it on: its summary, or why it failed. */
export type CohortResult = CohortSummary | { readonly cohort: string; readonly failed: true };

export const isCohortSummary = (r: CohortResult): r is CohortSummary => !('failed' in r);

export function addToTotals(totals: FleetTotals, results: readonly CohortResult[]): FleetTotals {
  let t = totals;
  for (const r of results) {
    t = isCohortSummary(r)
      ? {
          ...t,
          cohorts: t.cohorts + 1,
          devices: t.devices + r.devices,
          fresh: t.fresh + r.fresh,
          connected: t.connected + r.connected,
          unhealthy: t.unhealthy + r.unhealthy,
          anomalous: t.anomalous + r.anomalous,
        }
      : { ...t, failedCohorts: t.failedCohorts + 1 };
  }
  return t;
}

/** Percent of `part` in `whole`, 0 for an empty whole (an empty fleet is not unhealthy). */
export const percent = (part: number, whole: number) => (whole === 0 ? 0 : (100 * part) / whole);
