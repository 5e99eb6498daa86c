/**
 * Devices unlike their peers: the robust statistics the fleet analysis scores each cohort with,
 * and the per-device streak that turns repeated outliers into a flag. Pure; no AWS.
 *
 * Scoring (Iglewicz & Hoaglin's modified z-score): for one metric across a cohort's devices,
 * z = 0.6745·(x − median)/MAD, where MAD is the median absolute deviation from the median. The
 * median and MAD ignore the outliers themselves, so a few drifting devices cannot hide by pulling
 * the mean towards them. When more than half the devices share one value, MAD is 0; the standard
 * fallback then divides by 1.253314 × the mean absolute deviation from the median (IBM SPSS
 * Modeler's rule), and when that is 0 too every device has the same value and none is scored.
 */

/** Scale of the modified z-score: MAD ≈ 0.6745 σ for normal data. */
export const MAD_SCALE = 0.6745;
/** The fallback's constant: the mean absolute deviation ≈ σ / 1.253314 for normal data. */
export const MEAN_ABSOLUTE_DEVIATION_SCALE = 1.253314;
/** Iglewicz & Hoaglin's recommended cut-off. */
export const OUTLIER_Z_SCORE = 3.5;
/** Fewer devices with fresh telemetry than this and a cohort's medians mean little: not scored. */
export const MIN_SCORED_DEVICES = 20;
/** Consecutive analyses a device must be an outlier (on one metric) before it is flagged. */
export const FLAG_AFTER_RUNS = 3;
/** Consecutive analyses a flagged device must be an outlier on no metric before it is cleared. */
export const CLEAR_AFTER_RUNS = 2;

/** Which aggregate of a device's latest window a metric is compared on. */
export type WindowStat = 'p95' | 'mean' | 'max' | 'sum';

export interface ScoredMetric {
  readonly metric: string;
  readonly stat: WindowStat;
  /**
   * The least excess over the cohort median that counts, whatever the score: in a cohort where
   * nearly every device reads the same (0 reconnects, 412 MiB), the fallback's scale is tiny and
   * one reconnect or 2 MiB more would score far above 3.5. Operators care about neither.
   */
  readonly minExcess: number;
}

/**
 * What the analysis scores, all one-sided (only high values are outliers: more memory, CPU,
 * heat, reconnects and restarts are what goes wrong; a device using less is not a problem).
 */
export const SCORED_METRICS: readonly ScoredMetric[] = [
  { metric: 'memory.used_mib', stat: 'p95', minExcess: 32 },
  { metric: 'cpu.percent', stat: 'p95', minExcess: 10 },
  { metric: 'temperature.celsius', stat: 'max', minExcess: 5 },
  { metric: 'link.reconnects', stat: 'sum', minExcess: 3 },
  { metric: 'process.restarts', stat: 'sum', minExcess: 2 },
];

/** The median of `values` (non-empty); the mean of the middle two for an even count. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The median absolute deviation of `values` from `center`. */
export function medianAbsoluteDeviation(values: readonly number[], center: number): number {
  return median(values.map((v) => Math.abs(v - center)));
}

/** The mean absolute deviation of `values` from `center`. */
export function meanAbsoluteDeviation(values: readonly number[], center: number): number {
  return values.reduce((sum, v) => sum + Math.abs(v - center), 0) / values.length;
}

/** How a cohort's values for one metric are scored; `undefined` scale: all equal, no scores. */
export interface RobustScale {
  readonly median: number;
  /** What (x − median) is divided by: MAD / 0.6745, or 1.253314 × mean absolute deviation. */
  readonly divisor: number | undefined;
  readonly method: 'mad' | 'mean-absolute-deviation' | 'none';
}

/** The median and the divisor of the modified z-score for these values (non-empty). */
export function robustScale(values: readonly number[]): RobustScale {
  const center = median(values);
  const mad = medianAbsoluteDeviation(values, center);
  if (mad > 0) return { median: center, divisor: mad / MAD_SCALE, method: 'mad' };
  const meanAd = meanAbsoluteDeviation(values, center);
  if (meanAd > 0)
    return {
      median: center,
      divisor: MEAN_ABSOLUTE_DEVIATION_SCALE * meanAd,
      method: 'mean-absolute-deviation',
    };
  return { median: center, divisor: undefined, method: 'none' };
}

/** The modified z-score of `x` on `scale`, or undefined when the cohort has no spread at all. */
export function modifiedZScore(x: number, scale: RobustScale): number | undefined {
  return scale.divisor === undefined ? undefined : (x - scale.median) / scale.divisor;
}

/** One device's value of a metric that scored past the cut-off this run. */
export interface Outlier {
  readonly metric: string;
  readonly score: number;
  readonly value: number;
  readonly cohortMedian: number;
}

/**
 * The outliers among `values` (device id → value) for one metric: z > 3.5 and at least
 * `minExcess` above the median. Needs MIN_SCORED_DEVICES values; fewer and nothing is scored.
 */
export function findOutliers(
  metric: ScoredMetric,
  values: ReadonlyMap<string, number>,
): Map<string, Outlier> {
  const outliers = new Map<string, Outlier>();
  if (values.size < MIN_SCORED_DEVICES) return outliers;
  const scale = robustScale([...values.values()]);
  for (const [deviceId, value] of values) {
    const score = modifiedZScore(value, scale);
    if (score === undefined || score <= OUTLIER_Z_SCORE) continue;
    if (value - scale.median < metric.minExcess) continue;
    outliers.set(deviceId, { metric: metric.metric, score, value, cohortMedian: scale.median });
  }
  return outliers;
}

/** A flag on a device: what made it unlike its peers, and since when. */
export interface DeviceAnomaly {
  readonly metric: string;
  readonly score: number;
  readonly value: number;
  readonly cohortMedian: number;
  /** The analysis time it was flagged at (ISO). */
  readonly since: string;
  readonly cohort: string;
  /** Consecutive analyses since then in which the device was an outlier on no metric. */
  readonly calmRuns: number;
}

/** What the analysis keeps on a device item between runs. */
export interface DeviceAnomalyState {
  /** Metric → consecutive runs it was an outlier, capped at FLAG_AFTER_RUNS; zeros left out. */
  readonly streak: Readonly<Record<string, number>>;
  readonly anomaly?: DeviceAnomaly;
}

export interface AnomalyStep {
  readonly next: DeviceAnomalyState;
  /** Whether anything stored changed (so the device item needs a write). */
  readonly changed: boolean;
  readonly transition?: 'flagged' | 'cleared';
}

/**
 * One analysis run's step for one scored device, given its outliers this run:
 * 1. each metric it is an outlier on counts one more run (capped), every other one drops to 0;
 * 2. not flagged: flagged on the highest-scoring metric that reached FLAG_AFTER_RUNS;
 * 3. flagged: an outlier on any metric resets the calm count, none adds one; at
 *    CLEAR_AFTER_RUNS the flag clears.
 * The cap keeps a device that stays an outlier from changing (being written) every run.
 */
export function stepAnomalyState(
  current: DeviceAnomalyState,
  outliers: readonly Outlier[],
  run: { readonly analyzedAt: string; readonly cohort: string },
): AnomalyStep {
  const streak: Record<string, number> = {};
  for (const o of outliers) streak[o.metric] = Math.min(FLAG_AFTER_RUNS, (current.streak[o.metric] ?? 0) + 1);
  const streakChanged = !sameStreak(streak, current.streak);
  const anomaly = current.anomaly;

  if (anomaly === undefined) {
    const due = outliers
      .filter((o) => (streak[o.metric] ?? 0) >= FLAG_AFTER_RUNS)
      .sort((a, b) => b.score - a.score)[0];
    if (due === undefined) return { next: { streak }, changed: streakChanged };
    const flagged: DeviceAnomaly = {
      metric: due.metric,
      score: due.score,
      value: due.value,
      cohortMedian: due.cohortMedian,
      since: run.analyzedAt,
      cohort: run.cohort,
      calmRuns: 0,
    };
    return { next: { streak, anomaly: flagged }, changed: true, transition: 'flagged' };
  }

  const calmRuns = outliers.length > 0 ? 0 : anomaly.calmRuns + 1;
  if (calmRuns >= CLEAR_AFTER_RUNS) return { next: { streak }, changed: true, transition: 'cleared' };
  return {
    next: { streak, anomaly: { ...anomaly, calmRuns } },
    changed: streakChanged || calmRuns !== anomaly.calmRuns,
  };
}

function sameStreak(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}
