/**
 * Edge aggregation: samples in, one summary per metric per window out, so a device sends six
 * numbers a minute per metric instead of every sample (see bench/telemetry-bytes.ts).
 *
 * Windows are aligned to the clock (a 60 s window starts on the minute), so windows of different
 * devices line up in the cohort analysis. The window open now lives in memory only: a crash or a
 * stop loses at most one window of samples, and a window is never half-counted twice.
 */
import {
  type Aggregate,
  type HealthState,
  MAX_METRICS_PER_WINDOW,
  METRIC_NAME_PATTERN,
  nearestRankP95,
  type TelemetryWindowV1,
} from '../../contract/telemetry';

/** One reading of the device: metric → value, and the application health check's verdict. */
export interface Sample {
  readonly metrics: Readonly<Record<string, number>>;
  readonly health: HealthState;
}

/** A closed window before the buffer gives it its `seq`. */
export type ClosedWindow = Omit<TelemetryWindowV1, 'seq'>;

/**
 * count/min/max/mean/p95/sum of `values` (non-empty); p95 by nearest rank. min, max and p95 are
 * samples as taken. The mean keeps 6 significant digits and the sum 12: the digits past those are
 * division and float noise (23.456666666666667, 140.51000000000002) that cost bytes on every
 * window and compress badly.
 */
export function aggregate(values: readonly number[]): Aggregate {
  const sorted = [...values].sort((a, b) => a - b);
  const sum = sorted.reduce((total, value) => total + value, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
    mean: significant(sum / sorted.length, 6),
    p95: nearestRankP95(sorted),
    sum: significant(sum, 12),
  };
}

const significant = (value: number, digits: number) => Number(value.toPrecision(digits));

interface OpenWindow {
  readonly start: number;
  readonly values: Map<string, number[]>;
  health: HealthState;
  firmwareVersion: string;
}

export class WindowAggregator {
  readonly #windowMs: number;
  #open: OpenWindow | undefined;

  constructor(readonly windowSeconds: number) {
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1 || windowSeconds > 3600)
      throw new Error('windowSeconds must be an integer from 1 to 3600');
    this.#windowMs = windowSeconds * 1000;
  }

  /** The start of the window `now` falls in. */
  windowStart(now: number): number {
    return Math.floor(now / this.#windowMs) * this.#windowMs;
  }

  /**
   * Adds a sample taken at `now` while `firmwareVersion` runs. Returns the window it closed, if
   * the sample belongs to a later window than the open one. Metrics with a name outside the
   * contract's pattern or a value that is not finite are left out; past MAX_METRICS_PER_WINDOW
   * distinct metrics in a window, new ones are left out too (the window would be refused whole).
   */
  add(now: number, sample: Sample, firmwareVersion: string): ClosedWindow | undefined {
    const closed = this.closeDue(now);
    const start = this.windowStart(now);
    if (!this.#open) this.#open = { start, values: new Map(), health: sample.health, firmwareVersion };
    const open = this.#open;
    open.health = sample.health;
    open.firmwareVersion = firmwareVersion;
    for (const [name, value] of Object.entries(sample.metrics)) {
      if (!Number.isFinite(value) || name.length > 64 || !METRIC_NAME_PATTERN.test(name)) continue;
      let values = open.values.get(name);
      if (!values) {
        if (open.values.size >= MAX_METRICS_PER_WINDOW) continue;
        values = [];
        open.values.set(name, values);
      }
      values.push(value);
    }
    return closed;
  }

  /**
   * Closes the open window if `now` is past its end (a timer tick with no sample in it), or
   * before its start (the clock was set back, e.g. by NTP after a boot with a wrong clock).
   */
  closeDue(now: number): ClosedWindow | undefined {
    const open = this.#open;
    if (!open || (now >= open.start && now < open.start + this.#windowMs)) return undefined;
    this.#open = undefined;
    // A window whose samples had no usable metric still says the device was alive and healthy.
    const metrics: Record<string, Aggregate> = {};
    for (const [name, values] of [...open.values].sort(([a], [b]) => (a < b ? -1 : 1)))
      metrics[name] = aggregate(values);
    return {
      start: open.start,
      seconds: this.windowSeconds,
      firmwareVersion: open.firmwareVersion,
      health: open.health,
      metrics,
    };
  }

  /** Forgets the open window (stop, crash): its samples are not sent. */
  discard(): void {
    this.#open = undefined;
  }
}
