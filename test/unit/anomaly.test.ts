import { describe, expect, it } from 'vitest';
import {
  CLEAR_AFTER_RUNS,
  type DeviceAnomalyState,
  FLAG_AFTER_RUNS,
  findOutliers,
  MIN_SCORED_DEVICES,
  meanAbsoluteDeviation,
  median,
  medianAbsoluteDeviation,
  modifiedZScore,
  type Outlier,
  robustScale,
  SCORED_METRICS,
  stepAnomalyState,
} from '../../functions/domain/anomaly';

const memory = SCORED_METRICS.find((m) => m.metric === 'memory.used_mib');
const reconnects = SCORED_METRICS.find((m) => m.metric === 'link.reconnects');
if (!memory || !reconnects) throw new Error('scored metrics changed');

const byDevice = (values: readonly number[]) => new Map(values.map((v, i) => [`d${i}`, v]));

describe('median and deviations', () => {
  it('takes the middle value of an odd count and the mean of the middle two of an even one', () => {
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('computes the median and mean absolute deviation from a center', () => {
    // |1-3|, |2-3|, |3-3|, |4-3|, |100-3| = 2, 1, 0, 1, 97
    expect(medianAbsoluteDeviation([1, 2, 3, 4, 100], 3)).toBe(1);
    expect(meanAbsoluteDeviation([1, 2, 3, 4, 100], 3)).toBe(101 / 5);
  });

  it('refuses the median of nothing', () => {
    expect(() => median([])).toThrow(/no values/);
  });
});

describe('modified z-score', () => {
  it('is 0.6745·(x − median)/MAD', () => {
    const scale = robustScale([1, 2, 3, 4, 100]);
    expect(scale).toMatchObject({ median: 3, method: 'mad' });
    // 0.6745 × 97 / 1
    expect(modifiedZScore(100, scale)).toBeCloseTo(65.4265, 4);
    expect(modifiedZScore(4, scale)).toBeCloseTo(0.6745, 4);
    expect(modifiedZScore(1, scale)).toBeCloseTo(-1.349, 4);
  });

  it('falls back to 1.253314 × the mean absolute deviation when MAD is 0', () => {
    // median 5; deviations 0,0,0,0,4: MAD 0, mean absolute deviation 0.8
    const scale = robustScale([5, 5, 5, 5, 9]);
    expect(scale.method).toBe('mean-absolute-deviation');
    expect(modifiedZScore(9, scale)).toBeCloseTo(4 / (1.253314 * 0.8), 6);
    expect(modifiedZScore(9, scale)).toBeCloseTo(3.98942, 4);
  });

  it('gives no score when every value is the same', () => {
    const scale = robustScale([7, 7, 7, 7]);
    expect(scale.method).toBe('none');
    expect(modifiedZScore(7, scale)).toBeUndefined();
  });
});

describe('findOutliers', () => {
  const cohort = (extra: readonly number[]) =>
    byDevice([
      ...Array.from({ length: MIN_SCORED_DEVICES - extra.length }, (_, i) => 400 + (i % 5)),
      ...extra,
    ]);

  it('marks a value far above the cohort (z > 3.5) with its score and the median', () => {
    const values = cohort([640]);
    const outliers = findOutliers(memory, values);
    expect([...outliers.keys()]).toEqual([`d${MIN_SCORED_DEVICES - 1}`]);
    const outlier = outliers.get(`d${MIN_SCORED_DEVICES - 1}`);
    expect(outlier).toMatchObject({ metric: 'memory.used_mib', value: 640, cohortMedian: 402 });
    // 19 values 400..404 (4,4,4,4,3 of each) and 640: median 402, MAD 1
    expect(outlier?.score).toBeCloseTo((0.6745 * 238) / 1, 3);
  });

  it('is one-sided: a device far below its peers is not an outlier', () => {
    expect(findOutliers(memory, cohort([100])).size).toBe(0);
  });

  it('scores nothing with fewer than 20 devices', () => {
    const values = byDevice([...Array.from({ length: MIN_SCORED_DEVICES - 2 }, () => 400), 9000]);
    expect(values.size).toBe(MIN_SCORED_DEVICES - 1);
    expect(findOutliers(memory, values).size).toBe(0);
  });

  it('ignores an excess below the metric minimum even when the fallback scores it high', () => {
    // 19 devices with 0 reconnects, one with 1: z = 1/(1.253314 × 0.05) ≈ 16, but 1 < 3.
    const one = byDevice([...Array.from({ length: 19 }, () => 0), 1]);
    expect(findOutliers(reconnects, one).size).toBe(0);
    const many = byDevice([...Array.from({ length: 19 }, () => 0), 12]);
    expect([...findOutliers(reconnects, many).keys()]).toEqual(['d19']);
  });

  it('scores nobody when all devices read the same', () => {
    expect(findOutliers(memory, byDevice(Array.from({ length: 30 }, () => 400))).size).toBe(0);
  });
});

describe('stepAnomalyState', () => {
  const run = (n: number) => ({ analyzedAt: `2026-01-01T00:0${n}:00.000Z`, cohort: 'eu#s1#hw#1.0' });
  const memoryOutlier: Outlier = { metric: 'memory.used_mib', score: 20, value: 900, cohortMedian: 400 };
  const cpuOutlier: Outlier = { metric: 'cpu.percent', score: 9, value: 95, cohortMedian: 20 };

  const runs = (outliersPerRun: readonly (readonly Outlier[])[]) => {
    let state: DeviceAnomalyState = { streak: {} };
    return outliersPerRun.map((outliers, i) => {
      const step = stepAnomalyState(state, outliers, run(i));
      state = step.next;
      return step;
    });
  };

  it(`flags a device after ${FLAG_AFTER_RUNS} consecutive runs as an outlier, on that metric`, () => {
    const steps = runs([[memoryOutlier], [memoryOutlier], [memoryOutlier]]);
    expect(steps.map((s) => s.transition)).toEqual([undefined, undefined, 'flagged']);
    expect(steps.map((s) => s.next.streak['memory.used_mib'])).toEqual([1, 2, 3]);
    expect(steps[2]?.next.anomaly).toEqual({
      metric: 'memory.used_mib',
      score: 20,
      value: 900,
      cohortMedian: 400,
      since: run(2).analyzedAt,
      cohort: 'eu#s1#hw#1.0',
      calmRuns: 0,
    });
  });

  it('starts over when a run breaks the streak', () => {
    const steps = runs([[memoryOutlier], [memoryOutlier], [], [memoryOutlier], [memoryOutlier]]);
    expect(steps.every((s) => s.transition === undefined)).toBe(true);
    expect(steps[2]?.next.streak).toEqual({});
  });

  it('flags on the highest-scoring metric among those due', () => {
    const both = [memoryOutlier, cpuOutlier];
    const steps = runs([both, both, both]);
    expect(steps[2]?.next.anomaly?.metric).toBe('memory.used_mib');
  });

  it('stops changing (no write) while a flagged device stays an outlier', () => {
    const steps = runs([[memoryOutlier], [memoryOutlier], [memoryOutlier], [memoryOutlier], [memoryOutlier]]);
    expect(steps.map((s) => s.changed)).toEqual([true, true, true, false, false]);
    expect(steps[4]?.next.streak['memory.used_mib']).toBe(FLAG_AFTER_RUNS);
  });

  it(`clears a flag after ${CLEAR_AFTER_RUNS} consecutive runs as an outlier on no metric`, () => {
    const steps = runs([[memoryOutlier], [memoryOutlier], [memoryOutlier], [], []]);
    expect(steps.map((s) => s.transition)).toEqual([undefined, undefined, 'flagged', undefined, 'cleared']);
    expect(steps[3]?.next.anomaly?.calmRuns).toBe(1);
    expect(steps[4]?.next).toEqual({ streak: {} });
  });

  it('resets the calm count when the device is an outlier again', () => {
    const steps = runs([[memoryOutlier], [memoryOutlier], [memoryOutlier], [], [cpuOutlier], []]);
    expect(steps.map((s) => s.transition)).toEqual([
      undefined,
      undefined,
      'flagged',
      undefined,
      undefined,
      undefined,
    ]);
    expect(steps[5]?.next.anomaly?.calmRuns).toBe(1);
  });

  it('does not change a device that is and was an outlier on nothing', () => {
    expect(stepAnomalyState({ streak: {} }, [], run(0))).toEqual({ next: { streak: {} }, changed: false });
  });
});
