/**
 * Telemetry gates: a wave passes only if its updated devices do not run measurably worse than
 * devices of the same cohort (region, site, hardware type) still on the version they came from.
 * Counting healthy devices cannot see a release that leaks memory or crash-loops a service while
 * each device's own health check still says healthy; comparing with peers on the old version can,
 * and comparing within a cohort keeps a hot site or a different board from looking like a
 * regression.
 *
 * Pure: the samples come in (ports/telemetry-baseline.ts reads them), a verdict comes out.
 */

export const GATE_STATS = ['p95', 'mean', 'max', 'ratePerHour'] as const;
/**
 * Which number of a device's latest window the gate compares: the window's `p95`, `mean` or
 * `max`, or `ratePerHour`, its `sum` scaled to an hour (restarts, reconnects: counts per window).
 */
export type GateStat = (typeof GATE_STATS)[number];

/** One metric gate on a wave, as the operator declares it. Exactly one limit is set. */
export interface TelemetryGate {
  readonly metric: string;
  readonly stat: GateStat;
  /** Updated devices may be at most this percent above the baseline (0–1000). */
  readonly maxIncreasePercent?: number;
  /** Updated devices may be at most this much above the baseline, in the metric's unit. */
  readonly maxIncrease?: number;
  /** Fewer not-yet-updated devices with fresh telemetry than this: no comparison. @default 3 */
  readonly minBaselineDevices?: number;
  /** What a gate that could compare no cohort does. @default 'halt' */
  readonly onMissingData?: 'halt' | 'pass';
}

export const MAX_GATES_PER_WAVE = 8;
export const DEFAULT_MIN_BASELINE_DEVICES = 3;
/** Updated devices one gate check reads: the wave's first executions, whatever the wave's size. */
export const MAX_UPDATED_SAMPLE = 100;
/** Not-yet-updated devices read per cohort: one Query page. */
export const MAX_BASELINE_SAMPLE = 100;
/** Cohorts compared per wave, those with the most updated devices first: one Query each. */
export const MAX_GATE_COHORTS = 16;
/**
 * Window length assumed for `ratePerHour` when the device item does not say (items written
 * before `telemetrySeconds` was recorded): the agent's default window.
 */
export const DEFAULT_WINDOW_SECONDS = 300;
/** Baseline telemetry older than this is stale, however short the soak. */
const MIN_BASELINE_MAX_AGE_SECONDS = 15 * 60;

/**
 * How old a not-yet-updated device's latest window may be and still count: three soaks or 15
 * minutes, whichever is longer. An offline device's last window says nothing about now.
 */
export const baselineMaxAgeSeconds = (soakSeconds: number) =>
  Math.max(3 * soakSeconds, MIN_BASELINE_MAX_AGE_SECONDS);

/** One metric of a device's latest window, as the device item keeps it. */
export interface MetricWindow {
  readonly p95?: number;
  readonly mean?: number;
  readonly max?: number;
  readonly sum?: number;
}

/** A device's latest telemetry window. */
export interface DeviceTelemetry {
  readonly deviceId: string;
  /** Firmware version the latest window was measured on; absent if unknown. */
  readonly version?: string;
  /** End of the latest window (ISO). */
  readonly healthAt?: string;
  /** Length of the latest window; DEFAULT_WINDOW_SECONDS if unknown. */
  readonly windowSeconds?: number;
  readonly metrics: Readonly<Record<string, MetricWindow>>;
}

/** Devices compared with each other: one region, site and hardware type, on one version. */
export interface Cohort {
  readonly region: string;
  readonly site: string;
  readonly hardwareType: string;
  readonly version: string;
}

/**
 * The fleet's cohort key (`cohort` on device items, the `byCohort` index), exactly as the ingestion
 * writes it (domain/telemetry.ts cohortKey, which a test holds this to): `%` and `#` inside a part
 * escaped. Not imported from there: that module brings the telemetry contract's schemas, and the
 * rollout steps bundle has no room to spare for them.
 */
export const cohortKeyOf = (c: Cohort) =>
  [c.region, c.site, c.hardwareType, c.version]
    .map((part) => part.replaceAll('%', '%25').replaceAll('#', '%23'))
    .join('#');
/** How a reason names a cohort: short, as operators name sites and boards. */
const cohortLabel = (c: Cohort) => `${c.site}/${c.hardwareType}`;

/** An updated device of the wave: where it is, what it came from, its latest telemetry. */
export interface UpdatedDeviceTelemetry extends DeviceTelemetry {
  readonly region: string;
  readonly site: string;
  readonly hardwareType: string;
  /** The version it ran before the rollout: what its baseline runs. */
  readonly fromVersion: string;
}

/** The baseline cohorts to read for these updated devices: those with the most devices, ≤ max. */
export function baselineCohortsOf(
  updated: readonly UpdatedDeviceTelemetry[],
  max = MAX_GATE_COHORTS,
): { readonly cohorts: readonly Cohort[]; readonly skipped: number } {
  const counts = new Map<string, { cohort: Cohort; devices: number }>();
  for (const d of updated) {
    const cohort = { region: d.region, site: d.site, hardwareType: d.hardwareType, version: d.fromVersion };
    const key = cohortKeyOf(cohort);
    counts.set(key, { cohort, devices: (counts.get(key)?.devices ?? 0) + 1 });
  }
  const ranked = [...counts.entries()]
    .sort(([ka, a], [kb, b]) => b.devices - a.devices || ka.localeCompare(kb))
    .map(([, c]) => c.cohort);
  return { cohorts: ranked.slice(0, max), skipped: Math.max(0, ranked.length - max) };
}

/** One cohort's comparison input: its updated devices and its devices still on the old version. */
export interface CohortSamples {
  /** The baseline cohort: the updated devices' region, site, hardware type and from-version. */
  readonly cohort: Cohort;
  readonly updated: readonly DeviceTelemetry[];
  readonly baseline: readonly DeviceTelemetry[];
}

/** What a gate found, kept on the wave (one per gate: the cohort that decided it). */
export interface GateResult {
  readonly metric: string;
  readonly stat: GateStat;
  readonly outcome: 'passed' | 'failed' | 'no-data';
  /** The deciding cohort (`site/hardwareType`): the one furthest above its limit, or short of data. */
  readonly cohort?: string;
  readonly updated?: { readonly value: number; readonly devices: number };
  readonly baseline?: { readonly value: number; readonly devices: number; readonly version: string };
  /** The most the updated median may be. */
  readonly limit?: number;
  readonly cohortsCompared: number;
  readonly cohortsWithoutData: number;
  readonly reason?: string;
  /** Failed only for want of an updated device's first window on the new version. */
  readonly awaitingUpdatedTelemetry?: true;
}

export type TelemetryGateVerdict =
  | { readonly outcome: 'passed'; readonly results: readonly GateResult[] }
  | {
      readonly outcome: 'failed';
      readonly results: readonly GateResult[];
      readonly reason: string;
      /**
       * Every gate that failed did so only because no updated device has sent a window measured
       * on the new version yet: the caller may look again later (until the wave's deadline)
       * instead of halting now.
       */
      readonly awaitingUpdatedTelemetry: boolean;
    };

export interface TelemetryGateInput {
  readonly waveIndex: number;
  readonly gates: readonly TelemetryGate[];
  /** The version the wave installs: updated telemetry counts only if measured on it. */
  readonly version: string;
  /**
   * When the soak began (the wave's last device settled), else when the wave started: an updated
   * device's window counts only if it began then or later, so it holds no sample from before
   * the update or from its install and reboot.
   */
  readonly measuredSince: string;
  readonly now: Date;
  /** Baseline telemetry older than this is stale (baselineMaxAgeSeconds). */
  readonly baselineMaxAgeSeconds: number;
  readonly cohorts: readonly CohortSamples[];
  /** Cohorts of updated devices left out by MAX_GATE_COHORTS: named in a missing-data reason. */
  readonly skippedCohorts?: number;
}

/** A device's value of `stat` for `metric` in its latest window, if it has one. */
export function statOf(device: DeviceTelemetry, metric: string, stat: GateStat): number | undefined {
  const window = device.metrics[metric];
  if (!window) return undefined;
  const value =
    stat === 'ratePerHour'
      ? window.sum === undefined
        ? undefined
        : (window.sum * 3600) / windowSecondsOf(device)
      : window[stat];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

const windowSecondsOf = (d: DeviceTelemetry) =>
  d.windowSeconds !== undefined && d.windowSeconds > 0 ? d.windowSeconds : DEFAULT_WINDOW_SECONDS;

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The most `baseline` allows: `+pct %` of its size, or `+abs`. */
function limitOf(gate: TelemetryGate, baseline: number): number {
  if (gate.maxIncreasePercent !== undefined)
    return baseline + (Math.abs(baseline) * gate.maxIncreasePercent) / 100;
  return baseline + (gate.maxIncrease ?? 0);
}

const formatValue = (v: number) => v.toFixed(Math.abs(v) >= 10 ? 1 : 2);
const allowedOf = (gate: TelemetryGate) =>
  gate.maxIncreasePercent !== undefined ? `+${gate.maxIncreasePercent}%` : `+${gate.maxIncrease ?? 0}`;

type CohortOutcome =
  | {
      readonly kind: 'compared';
      readonly cohort: Cohort;
      readonly updated: { value: number; devices: number };
      readonly baseline: { value: number; devices: number; version: string };
      readonly limit: number;
    }
  | {
      readonly kind: 'no-data';
      readonly cohort: Cohort;
      readonly why: string;
      /** No updated device of the cohort has a window on the new version yet (it may still come). */
      readonly awaitingUpdated: boolean;
    };

/**
 * Checks each gate against every cohort of the wave:
 * 1. updated devices count only with telemetry measured on the new version after the wave
 *    started; baseline devices only with telemetry fresher than `baselineMaxAgeSeconds`;
 * 2. per cohort, the median over updated devices of the gate's statistic is compared with the
 *    median over baseline devices: above `baseline × (1 + pct/100)` (or `baseline + maxIncrease`)
 *    fails;
 * 3. a cohort with no updated telemetry, or fewer than `minBaselineDevices` baseline devices, is
 *    not compared. A gate no cohort could be compared for does what `onMissingData` says; one
 *    compared in some cohorts is decided by those (a small site with no devices left on the old
 *    version does not halt a wave whose other cohorts compare).
 * The wave fails if any gate fails; the reason gives the first failing comparison.
 */
export function evaluateTelemetryGates(input: TelemetryGateInput): TelemetryGateVerdict {
  const since = Date.parse(input.measuredSince);
  const freshSince = input.now.getTime() - input.baselineMaxAgeSeconds * 1000;
  const at = (d: DeviceTelemetry) => (d.healthAt === undefined ? Number.NaN : Date.parse(d.healthAt));
  const cohorts = input.cohorts.map((c) => ({
    cohort: c.cohort,
    updated: c.updated.filter(
      (d) => d.version === input.version && at(d) - windowSecondsOf(d) * 1000 >= since,
    ),
    baseline: c.baseline.filter(
      (d) => (d.version === undefined || d.version === c.cohort.version) && at(d) >= freshSince,
    ),
  }));
  const prefix = (gate: TelemetryGate) =>
    `Wave ${input.waveIndex + 1} telemetry gate ${gate.metric} ${gate.stat}`;

  const results = input.gates.map((gate): GateResult => {
    const minBaseline = gate.minBaselineDevices ?? DEFAULT_MIN_BASELINE_DEVICES;
    const outcomes = cohorts.map((c): CohortOutcome => {
      const values = (ds: readonly DeviceTelemetry[]) =>
        ds.flatMap((d) => statOf(d, gate.metric, gate.stat) ?? []);
      const updated = values(c.updated);
      const baseline = values(c.baseline);
      if (updated.length === 0)
        return {
          kind: 'no-data',
          cohort: c.cohort,
          why: `no updated device sent ${gate.metric} on ${input.version} in a window since the soak began`,
          awaitingUpdated: true,
        };
      if (baseline.length < minBaseline)
        return {
          kind: 'no-data',
          cohort: c.cohort,
          why: `${baseline.length} not-yet-updated device(s) on ${c.cohort.version} with fresh ${gate.metric}, ${minBaseline} needed`,
          awaitingUpdated: false,
        };
      const baselineValue = median(baseline);
      return {
        kind: 'compared',
        cohort: c.cohort,
        updated: { value: median(updated), devices: updated.length },
        baseline: { value: baselineValue, devices: baseline.length, version: c.cohort.version },
        limit: limitOf(gate, baselineValue),
      };
    });
    const compared = outcomes.filter((o) => o.kind === 'compared');
    const missing = outcomes.filter((o) => o.kind === 'no-data');
    const counts = { cohortsCompared: compared.length, cohortsWithoutData: missing.length };
    const common = { metric: gate.metric, stat: gate.stat, ...counts };

    if (compared.length === 0) {
      const first = missing[0];
      const detail = first
        ? `${cohortLabel(first.cohort)}: ${first.why}${missing.length > 1 ? `; ${missing.length - 1} more cohort(s) alike` : ''}`
        : `no updated device has telemetry on ${input.version} in a window since the soak began`;
      const skipped = input.skippedCohorts ? `; ${input.skippedCohorts} cohort(s) not read` : '';
      const halts = (gate.onMissingData ?? 'halt') === 'halt';
      return {
        ...common,
        outcome: halts ? 'failed' : 'no-data',
        ...(halts && missing.length > 0 && missing.every((o) => o.awaitingUpdated)
          ? { awaitingUpdatedTelemetry: true }
          : {}),
        ...(first ? { cohort: cohortLabel(first.cohort) } : {}),
        reason: `${prefix(gate)}: no cohort to compare (${detail}${skipped}); ${halts ? 'halting' : 'passing'} as onMissingData says`,
      };
    }
    // The deciding cohort: the one furthest above (or closest to) its limit.
    const worst = compared.reduce((a, b) => (b.updated.value - b.limit > a.updated.value - a.limit ? b : a));
    const failed = worst.updated.value > worst.limit;
    const { updated, baseline } = worst;
    const above =
      gate.maxIncreasePercent !== undefined && baseline.value !== 0
        ? `${(((updated.value - baseline.value) / Math.abs(baseline.value)) * 100).toFixed(1)}% above`
        : gate.maxIncreasePercent !== undefined
          ? 'above'
          : `${formatValue(updated.value - baseline.value)} above`;
    const updatedText = `updated devices ${formatValue(updated.value)} (median of ${updated.devices}, ${cohortLabel(worst.cohort)})`;
    const baselineText = `not-yet-updated devices ${formatValue(baseline.value)} (median of ${baseline.devices} on ${baseline.version})`;
    const comparison = failed
      ? `${updatedText} is ${above} ${baselineText}; allowed ${allowedOf(gate)}`
      : `${updatedText} against ${baselineText}: within the allowed ${allowedOf(gate)}`;
    return {
      ...common,
      outcome: failed ? 'failed' : 'passed',
      cohort: cohortLabel(worst.cohort),
      updated,
      baseline,
      limit: worst.limit,
      reason: `${prefix(gate)}: ${comparison}`,
    };
  });

  const failures = results.filter((r) => r.outcome === 'failed');
  const first = failures[0];
  if (!first) return { outcome: 'passed', results };
  const more = failures.length > 1 ? `; ${failures.length - 1} more gate(s) failed` : '';
  return {
    outcome: 'failed',
    results,
    reason: `${first.reason}${more}`,
    awaitingUpdatedTelemetry: failures.every((r) => r.awaitingUpdatedTelemetry === true),
  };
}
