import { describe, expect, it } from 'vitest';
import { TelemetryWindowV1 } from '../../contract/telemetry';
import { aggregate, WindowAggregator } from '../../device/telemetry/window-aggregator';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

describe('aggregate', () => {
  it('gives count, min, max, mean, sum and the nearest-rank p95', () => {
    const values = Array.from({ length: 20 }, (_, i) => 20 - i); // 20..1, unsorted on purpose

    const result = aggregate(values);

    expect(result).toEqual({ count: 20, min: 1, max: 20, mean: 10.5, p95: 19, sum: 210 });
  });

  it('takes the only value as p95 of one sample', () => {
    expect(aggregate([42])).toEqual({ count: 1, min: 42, max: 42, mean: 42, p95: 42, sum: 42 });
  });

  it('takes the highest of six samples as p95 (rank ceil(5.7) = 6)', () => {
    expect(aggregate([3, 1, 2, 9, 4, 5]).p95).toBe(9);
  });
});

describe('WindowAggregator', () => {
  it('aligns windows to the clock and closes one when a sample falls into the next', () => {
    const aggregator = new WindowAggregator(60);
    const healthy = (cpu: number) => ({ metrics: { 'cpu.percent': cpu }, health: 'healthy' as const });

    expect(aggregator.add(T0 + 5_000, healthy(10), '1.0.0')).toBeUndefined();
    expect(aggregator.add(T0 + 15_000, healthy(30), '1.0.0')).toBeUndefined();
    const closed = aggregator.add(T0 + 65_000, healthy(50), '1.0.0');

    expect(closed).toEqual({
      start: T0,
      seconds: 60,
      firmwareVersion: '1.0.0',
      health: 'healthy',
      metrics: { 'cpu.percent': { count: 2, min: 10, max: 30, mean: 20, p95: 30, sum: 40 } },
    });
    expect(TelemetryWindowV1.safeParse({ seq: 0, ...closed }).success).toBe(true);
  });

  it("keeps the window's latest health verdict and the firmware that runs at its end", () => {
    const aggregator = new WindowAggregator(60);
    aggregator.add(T0 + 1_000, { metrics: { 'cpu.percent': 1 }, health: 'unhealthy' }, '1.0.0');
    aggregator.add(T0 + 11_000, { metrics: { 'cpu.percent': 1 }, health: 'degraded' }, '1.1.0');

    const closed = aggregator.closeDue(T0 + 60_000);

    expect(closed?.health).toBe('degraded');
    expect(closed?.firmwareVersion).toBe('1.1.0');
  });

  it('closes a window on a tick past its end without a new sample, and not before', () => {
    const aggregator = new WindowAggregator(60);
    aggregator.add(T0 + 1_000, { metrics: { 'memory.used_mib': 100 }, health: 'healthy' }, '1.0.0');

    expect(aggregator.closeDue(T0 + 59_999)).toBeUndefined();
    expect(aggregator.closeDue(T0 + 60_000)?.start).toBe(T0);
    expect(aggregator.closeDue(T0 + 120_000)).toBeUndefined();
  });

  it('leaves out metrics the contract would refuse: bad names and values that are not finite', () => {
    const aggregator = new WindowAggregator(60);
    aggregator.add(
      T0,
      {
        metrics: { 'cpu.percent': Number.NaN, 'Bad Name': 1, 'app.ok': 2, 'disk.used_percent': Infinity },
        health: 'healthy',
      },
      '1.0.0',
    );

    const closed = aggregator.closeDue(T0 + 60_000);

    expect(Object.keys(closed?.metrics ?? {})).toEqual(['app.ok']);
  });

  it('keeps at most 32 metrics per window', () => {
    const aggregator = new WindowAggregator(60);
    const metrics = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`app.m${i}`, i]));
    aggregator.add(T0, { metrics, health: 'healthy' }, '1.0.0');

    const closed = aggregator.closeDue(T0 + 60_000);

    expect(Object.keys(closed?.metrics ?? {})).toHaveLength(32);
    expect(TelemetryWindowV1.safeParse({ seq: 0, ...closed }).success).toBe(true);
  });

  it('closes the open window when the clock is set back before its start', () => {
    const aggregator = new WindowAggregator(60);
    aggregator.add(T0 + 1_000, { metrics: { 'cpu.percent': 1 }, health: 'healthy' }, '1.0.0');

    const closed = aggregator.add(
      T0 - 3_600_000,
      { metrics: { 'cpu.percent': 2 }, health: 'healthy' },
      '1.0.0',
    );

    expect(closed?.start).toBe(T0);
    expect(aggregator.closeDue(T0 - 3_600_000 + 60_000)?.start).toBe(T0 - 3_600_000);
  });

  it('forgets the open window on discard (a stop loses at most one window)', () => {
    const aggregator = new WindowAggregator(60);
    aggregator.add(T0, { metrics: { 'cpu.percent': 1 }, health: 'healthy' }, '1.0.0');
    aggregator.discard();

    expect(aggregator.closeDue(T0 + 60_000)).toBeUndefined();
  });
});
