/**
 * The fleet summary: the cohort statistics the fleet analysis keeps (one `COHORTS` item per
 * region × site × hardware type × version), grouped by whatever an operator asks. It reads
 * cohorts, never devices, so its cost grows with the number of cohorts, not with the fleet.
 */
import type { CohortEntry, CohortStatistics, HealthCounts, MetricSpread } from './cohort-statistics';

/** A `COHORTS` item: its labels always; the statistics once the analysis has visited it. */
export type FleetSummaryCohort = CohortEntry & Partial<CohortStatistics>;

export type HealthOrUnknown = keyof HealthCounts;

export const LABEL_FIELDS = ['region', 'site', 'hardwareType', 'version'] as const;
export const STATE_FIELDS = ['connectionState', 'health'] as const;
export const GROUP_BY_FIELDS = [...LABEL_FIELDS, ...STATE_FIELDS] as const;
export type GroupByField = (typeof GROUP_BY_FIELDS)[number];

/**
 * The statistics count connected devices only: `disconnected` here is every other device,
 * disconnected or never seen.
 */
type ConnectionSplit = 'connected' | 'disconnected';
const CONNECTION_STATES: readonly ConnectionSplit[] = ['connected', 'disconnected'];
const HEALTH_STATES: readonly HealthOrUnknown[] = ['healthy', 'degraded', 'unhealthy', 'unknown'];

/** The spread of the cohorts' medians of one metric, for a group of several cohorts. */
export interface CohortMedianSpread {
  readonly min: number;
  readonly max: number;
  /** The median of the cohort medians, each weighted by its cohort's devices. An estimate. */
  readonly weightedMedian: number;
  readonly cohorts: number;
}

export interface SummaryGroup {
  /** The value of each groupBy field for this group (empty: the whole fleet). */
  readonly key: Readonly<Partial<Record<GroupByField, string>>>;
  /** Cohorts in the group that the analysis has visited. */
  readonly cohorts: number;
  /** Cohorts in the group not visited yet: their devices are not counted. */
  readonly pendingCohorts: number;
  /** The oldest `analyzedAt` in the group: everything here is at least this fresh. */
  readonly analyzedAt: string | null;
  /** Devices (in the group's state, when grouped by connectionState or health). */
  readonly devices: number;
  /** The rest are only given when no state field splits the counts. */
  readonly connected?: number;
  /** `unknown`: no fresh telemetry at the analysis. */
  readonly health?: Readonly<Record<HealthOrUnknown, number>>;
  readonly anomalous?: number;
  /** Exact cohort statistics: only when the group is one cohort. */
  readonly metrics?: Readonly<Record<string, MetricSpread>>;
  /** When the group spans several cohorts: a median of a union is not known from its parts. */
  readonly cohortMedians?: Readonly<Record<string, CohortMedianSpread>>;
}

export interface FleetSummary {
  readonly groupBy: readonly GroupByField[];
  /** The oldest `analyzedAt` of all cohorts counted; null when none has been analyzed. */
  readonly analyzedAt: string | null;
  readonly cohorts: number;
  readonly pendingCohorts: number;
  readonly groups: readonly SummaryGroup[];
}

/**
 * Groups cohort statistics by `groupBy` (any subset of GROUP_BY_FIELDS; none: fleet totals).
 *
 * 1. Each analyzed cohort lands in the group of its labels; `connectionState` or `health` in
 *    groupBy splits its device counts by state instead (zero-count state groups are left out).
 * 2. Counts add up; `analyzedAt` is the oldest of the group.
 * 3. Metrics: a group of exactly one cohort (all four labels in groupBy) gets the cohort's exact
 *    median and p95; a group of several gets the spread of its cohorts' medians, because a median
 *    over the union cannot be computed from the cohorts' medians.
 *
 * The cohort statistics hold each state's count, not counts per pair of states, so
 * `connectionState` and `health` cannot both be in groupBy: the caller refuses that.
 */
export function summarizeFleet(
  cohorts: readonly FleetSummaryCohort[],
  groupBy: readonly GroupByField[],
): FleetSummary {
  const labels = LABEL_FIELDS.filter((f) => groupBy.includes(f));
  const split = STATE_FIELDS.find((f) => groupBy.includes(f));
  if (STATE_FIELDS.every((f) => groupBy.includes(f)))
    throw new RangeError('connectionState and health cannot both split the counts');

  const byLabels = new Map<string, FleetSummaryCohort[]>();
  for (const cohort of cohorts) {
    const id = JSON.stringify(labels.map((f) => cohort[f]));
    byLabels.set(id, [...(byLabels.get(id) ?? []), cohort]);
  }

  const groups: SummaryGroup[] = [];
  for (const members of byLabels.values()) {
    const first = members[0];
    if (!first) continue;
    const key = Object.fromEntries(labels.map((f) => [f, first[f]])) as Partial<Record<GroupByField, string>>;
    const analyzed = members.filter(isAnalyzed);
    const common = {
      cohorts: analyzed.length,
      pendingCohorts: members.length - analyzed.length,
      analyzedAt: oldest(analyzed.map((c) => c.analyzedAt)),
    };
    if (split === undefined) {
      groups.push({ key, ...common, ...totals(analyzed), ...metricsOf(analyzed) });
      continue;
    }
    const states = split === 'health' ? HEALTH_STATES : CONNECTION_STATES;
    for (const state of states) {
      const inState = analyzed.map((c) => ({
        cohort: c,
        devices:
          split === 'health'
            ? healthCounts(c)[state as HealthOrUnknown]
            : connectionCounts(c)[state as ConnectionSplit],
      }));
      const devices = sum(inState.map((s) => s.devices));
      if (devices === 0) continue;
      const counted = inState.filter((s) => s.devices > 0).map((s) => s.cohort);
      groups.push({
        key: { ...key, [split]: state },
        ...common,
        cohorts: counted.length,
        analyzedAt: oldest(counted.map((c) => c.analyzedAt)),
        devices,
      });
    }
  }
  groups.sort((a, b) => compareKeys(a.key, b.key, groupBy));
  const analyzed = cohorts.filter(isAnalyzed);
  return {
    groupBy,
    analyzedAt: oldest(analyzed.map((c) => c.analyzedAt)),
    cohorts: analyzed.length,
    pendingCohorts: cohorts.length - analyzed.length,
    groups,
  };
}

type AnalyzedCohort = FleetSummaryCohort & { readonly analyzedAt: string };
const isAnalyzed = (c: FleetSummaryCohort): c is AnalyzedCohort => c.analyzedAt !== undefined;

const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

function oldest(times: readonly string[]): string | null {
  return [...times].sort()[0] ?? null;
}

/** Health counts; missing ones count 0. */
export function healthCounts(c: FleetSummaryCohort): Record<HealthOrUnknown, number> {
  const h: Partial<HealthCounts> = c.health ?? {};
  return {
    healthy: h.healthy ?? 0,
    degraded: h.degraded ?? 0,
    unhealthy: h.unhealthy ?? 0,
    unknown: h.unknown ?? 0,
  };
}

/** Connected devices, and all the others. */
export function connectionCounts(c: FleetSummaryCohort): Record<ConnectionSplit, number> {
  const connected = c.connected ?? 0;
  return { connected, disconnected: Math.max(0, (c.devices ?? 0) - connected) };
}

function totals(cohorts: readonly FleetSummaryCohort[]) {
  const health = { healthy: 0, degraded: 0, unhealthy: 0, unknown: 0 };
  for (const c of cohorts)
    for (const [state, n] of Object.entries(healthCounts(c))) health[state as HealthOrUnknown] += n;
  return {
    devices: sum(cohorts.map((c) => c.devices ?? 0)),
    connected: sum(cohorts.map((c) => c.connected ?? 0)),
    health,
    anomalous: sum(cohorts.map((c) => c.anomalous ?? 0)),
  };
}

function metricsOf(cohorts: readonly FleetSummaryCohort[]): Pick<SummaryGroup, 'metrics' | 'cohortMedians'> {
  const only = cohorts.length === 1 ? cohorts[0] : undefined;
  if (only) return only.metrics ? { metrics: only.metrics } : {};
  const medians = new Map<string, { median: number; weight: number }[]>();
  for (const c of cohorts)
    for (const [metric, stats] of Object.entries(c.metrics ?? {}))
      medians.set(metric, [
        ...(medians.get(metric) ?? []),
        { median: stats.median, weight: stats.devices ?? c.devices ?? 0 },
      ]);
  if (medians.size === 0) return {};
  const spreads: Record<string, CohortMedianSpread> = {};
  for (const metric of [...medians.keys()].sort()) {
    const values = medians.get(metric) ?? [];
    spreads[metric] = {
      min: Math.min(...values.map((v) => v.median)),
      max: Math.max(...values.map((v) => v.median)),
      weightedMedian: weightedMedian(values),
      cohorts: values.length,
    };
  }
  return { cohortMedians: spreads };
}

/** The lower weighted median: the smallest value at which half the weight is reached. */
export function weightedMedian(values: readonly { median: number; weight: number }[]): number {
  const sorted = [...values].sort((a, b) => a.median - b.median);
  const total = sum(sorted.map((v) => v.weight));
  if (total === 0) return sorted[Math.floor((sorted.length - 1) / 2)]?.median ?? Number.NaN;
  let running = 0;
  for (const v of sorted) {
    running += v.weight;
    if (running * 2 >= total) return v.median;
  }
  return sorted.at(-1)?.median ?? Number.NaN;
}

function compareKeys(a: SummaryGroup['key'], b: SummaryGroup['key'], order: readonly GroupByField[]): number {
  for (const field of order) {
    const diff = (a[field] ?? '').localeCompare(b[field] ?? '');
    if (diff !== 0) return diff;
  }
  return 0;
}
