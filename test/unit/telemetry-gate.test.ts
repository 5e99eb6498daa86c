import { describe, expect, it } from 'vitest';
import { cohortKey } from '../../functions/domain/telemetry';
import {
  baselineCohortsOf,
  baselineMaxAgeSeconds,
  type Cohort,
  cohortKeyOf,
  type DeviceTelemetry,
  evaluateTelemetryGates,
  MAX_GATE_COHORTS,
  median,
  statOf,
  type TelemetryGate,
  type TelemetryGateInput,
  type UpdatedDeviceTelemetry,
} from '../../functions/domain/telemetry-gate';

const now = new Date('2026-11-01T12:00:00Z');
const measuredSince = '2026-11-01T11:40:00Z';
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();
const siteA: Cohort = { region: 'eu', site: 'site-a', hardwareType: 'gw-v2', version: '1.0.0' };

const memoryGate: TelemetryGate = { metric: 'memory.used_mib', stat: 'p95', maxIncreasePercent: 10 };

/** A device whose latest window has `memory.used_mib` p95 = `mib`. */
const device = (deviceId: string, mib: number, patch: Partial<DeviceTelemetry> = {}): DeviceTelemetry => ({
  deviceId,
  version: '1.1.0',
  healthAt: minutesAgo(1),
  metrics: { 'memory.used_mib': { p95: mib, mean: mib - 10, max: mib + 5, sum: mib * 60 } },
  ...patch,
});
const updatedDevice = (id: string, mib: number, patch: Partial<DeviceTelemetry> = {}) =>
  device(id, mib, patch);
const baselineDevice = (id: string, mib: number, patch: Partial<DeviceTelemetry> = {}) =>
  device(id, mib, { version: '1.0.0', ...patch });
const baselineOf = (...mibs: number[]) => mibs.map((m, i) => baselineDevice(`b${i}`, m));

const input = (patch: Partial<TelemetryGateInput> = {}): TelemetryGateInput => ({
  waveIndex: 0,
  gates: [memoryGate],
  version: '1.1.0',
  measuredSince,
  now,
  baselineMaxAgeSeconds: 900,
  cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 130)], baseline: baselineOf(120, 128, 140) }],
  ...patch,
});

describe('evaluateTelemetryGates', () => {
  it('passes when the updated median stays within the allowed increase over the baseline median', () => {
    const verdict = evaluateTelemetryGates(input());

    expect(verdict.outcome).toBe('passed');
    expect(verdict.results).toEqual([
      expect.objectContaining({
        outcome: 'passed',
        cohort: 'site-a/gw-v2',
        updated: { value: 130, devices: 1 },
        baseline: { value: 128, devices: 3, version: '1.0.0' },
        cohortsCompared: 1,
        cohortsWithoutData: 0,
      }),
    ]);
    expect(verdict.results[0]?.limit).toBeCloseTo(140.8);
  });

  it('fails above the allowed increase, with the comparison in the reason', () => {
    const baseline = [...baselineOf(...Array.from({ length: 23 }, () => 128)), baselineDevice('b99', 300)];

    const verdict = evaluateTelemetryGates(
      input({ cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 182)], baseline }] }),
    );

    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason:
        'Wave 1 telemetry gate memory.used_mib p95: updated devices 182.0 (median of 1, site-a/gw-v2) ' +
        'is 42.2% above not-yet-updated devices 128.0 (median of 24 on 1.0.0); allowed +10%',
    });
    expect(verdict.results[0]).toMatchObject({ outcome: 'failed', updated: { value: 182 } });
  });

  it('compares medians, so one outlier among the updated devices does not fail the gate', () => {
    const updated = [updatedDevice('u0', 125), updatedDevice('u1', 127), updatedDevice('u2', 400)];

    const verdict = evaluateTelemetryGates(
      input({ cohorts: [{ cohort: siteA, updated, baseline: baselineOf(128, 128, 128) }] }),
    );

    expect(verdict.outcome).toBe('passed');
    expect(verdict.results[0]?.updated).toEqual({ value: 127, devices: 3 });
  });

  it('holds an absolute limit: fails only above baseline + maxIncrease', () => {
    const gate: TelemetryGate = { metric: 'memory.used_mib', stat: 'max', maxIncrease: 20 };
    const at = (mib: number) =>
      evaluateTelemetryGates(
        input({
          gates: [gate],
          cohorts: [
            { cohort: siteA, updated: [updatedDevice('u0', mib)], baseline: baselineOf(100, 100, 100) },
          ],
        }),
      );

    expect(at(120).outcome).toBe('passed'); // max 125 against 105: +20 exactly
    const failed = at(121);
    expect(failed).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining(
        'memory.used_mib max: updated devices 126.0 (median of 1, site-a/gw-v2) is 21.0 above not-yet-updated devices 105.0',
      ),
    });
    expect(failed.outcome === 'failed' && failed.reason).toMatch(/allowed \+20$/);
  });

  it('rates per device-hour from the window sum and its length', () => {
    const restarts = (
      deviceId: string,
      sum: number,
      windowSeconds?: number,
      version = '1.1.0',
    ): DeviceTelemetry => ({
      deviceId,
      version,
      healthAt: minutesAgo(1),
      ...(windowSeconds === undefined ? {} : { windowSeconds }),
      metrics: { 'process.restarts': { sum, mean: 0, max: sum, p95: 0 } },
    });
    const gate: TelemetryGate = { metric: 'process.restarts', stat: 'ratePerHour', maxIncrease: 1 };
    // 2 restarts in a 600 s window: 12 per hour; the baseline restarts once per 3600 s window.
    const verdict = evaluateTelemetryGates(
      input({
        gates: [gate],
        cohorts: [
          {
            cohort: siteA,
            updated: [restarts('u0', 2, 600)],
            baseline: [0, 1, 2].map((i) => restarts(`b${i}`, 1, 3600, '1.0.0')),
          },
        ],
      }),
    );

    expect(statOf(restarts('x', 1), 'process.restarts', 'ratePerHour')).toBe(12); // 300 s assumed
    expect(verdict).toMatchObject({
      outcome: 'failed',
      results: [{ updated: { value: 12 }, baseline: { value: 1 }, limit: 2 }],
      reason: expect.stringContaining(
        'process.restarts ratePerHour: updated devices 12.0 (median of 1, site-a/gw-v2) is 11.0 above not-yet-updated devices 1.00',
      ),
    });
  });

  it('halts by default when there are fewer baseline devices than minBaselineDevices', () => {
    const verdict = evaluateTelemetryGates(
      input({
        cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 130)], baseline: baselineOf(128, 128) }],
      }),
    );

    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason:
        'Wave 1 telemetry gate memory.used_mib p95: no cohort to compare (site-a/gw-v2: 2 not-yet-updated device(s) on 1.0.0 with fresh memory.used_mib, 3 needed); halting as onMissingData says',
    });
    expect(verdict.results[0]).toMatchObject({
      outcome: 'failed',
      cohortsCompared: 0,
      cohortsWithoutData: 1,
    });
  });

  it('passes on missing data when the gate says onMissingData: pass, and records no-data', () => {
    const gate: TelemetryGate = { ...memoryGate, onMissingData: 'pass', minBaselineDevices: 5 };

    const verdict = evaluateTelemetryGates(input({ gates: [gate] }));

    expect(verdict.outcome).toBe('passed');
    expect(verdict.results[0]).toMatchObject({
      outcome: 'no-data',
      reason: expect.stringContaining(
        '3 not-yet-updated device(s) on 1.0.0 with fresh memory.used_mib, 5 needed); passing as onMissingData says',
      ),
    });
  });

  it('halts when no updated device has sent telemetry', () => {
    const verdict = evaluateTelemetryGates(input({ cohorts: [] }));

    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining(
        'no updated device has telemetry on 1.1.0 in a window since the soak began',
      ),
    });
  });

  it('ignores updated telemetry from before the wave started, or measured on another version', () => {
    const stale = [
      updatedDevice('u0', 400, { healthAt: '2026-11-01T11:39:00Z' }), // before the update
      updatedDevice('u1', 400, { version: '1.0.0' }), // its window ran the old version
      updatedDevice('u2', 400, { healthAt: undefined }),
    ];
    const at = (updated: DeviceTelemetry[]) =>
      evaluateTelemetryGates(
        input({ cohorts: [{ cohort: siteA, updated, baseline: baselineOf(128, 128, 128) }] }),
      );

    expect(at(stale)).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining(
        'site-a/gw-v2: no updated device sent memory.used_mib on 1.1.0 in a window since the soak began',
      ),
    });
    expect(at([...stale, updatedDevice('u3', 130)])).toMatchObject({
      outcome: 'passed',
      results: [{ updated: { value: 130, devices: 1 } }],
    });
  });

  it('ignores stale baseline telemetry (offline devices)', () => {
    const baseline = [
      ...baselineOf(128, 128),
      baselineDevice('old', 500, { healthAt: minutesAgo(16) }),
      baselineDevice('older', 500, { healthAt: minutesAgo(60) }),
    ];

    const verdict = evaluateTelemetryGates(
      input({ cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 182)], baseline }] }),
    );

    // With the two stale devices, the median would be 314 and 182 would pass.
    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('2 not-yet-updated device(s)'),
    });
    expect(
      evaluateTelemetryGates(
        input({
          baselineMaxAgeSeconds: 7200,
          cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 182)], baseline }],
        }),
      ),
    ).toMatchObject({ outcome: 'passed', results: [{ baseline: { value: 314, devices: 4 } }] });
  });

  it('decides by the cohorts it can compare, and fails on the worst one', () => {
    const siteB: Cohort = { ...siteA, site: 'site-b' };
    const siteC: Cohort = { ...siteA, site: 'site-c' };
    const verdict = evaluateTelemetryGates(
      input({
        cohorts: [
          { cohort: siteA, updated: [updatedDevice('u0', 130)], baseline: baselineOf(128, 128, 128) },
          { cohort: siteB, updated: [updatedDevice('u1', 250)], baseline: baselineOf(200, 200, 200) },
          { cohort: siteC, updated: [updatedDevice('u2', 999)], baseline: [] },
        ],
      }),
    );

    expect(verdict).toMatchObject({
      outcome: 'failed',
      results: [{ cohort: 'site-b/gw-v2', cohortsCompared: 2, cohortsWithoutData: 1 }],
      reason: expect.stringContaining('updated devices 250.0 (median of 1, site-b/gw-v2) is 25.0% above'),
    });
  });

  it('checks every gate, gives the first failure and counts the others', () => {
    const gates: TelemetryGate[] = [
      { metric: 'memory.used_mib', stat: 'mean', maxIncreasePercent: 50 },
      { metric: 'memory.used_mib', stat: 'p95', maxIncreasePercent: 1 },
      { metric: 'memory.used_mib', stat: 'max', maxIncrease: 0 },
    ];
    const verdict = evaluateTelemetryGates(
      input({
        gates,
        cohorts: [
          { cohort: siteA, updated: [updatedDevice('u0', 140)], baseline: baselineOf(128, 128, 128) },
        ],
      }),
    );

    expect(verdict.results.map((r) => r.outcome)).toEqual(['passed', 'failed', 'failed']);
    expect(verdict).toMatchObject({
      reason: expect.stringMatching(
        /^Wave 1 telemetry gate memory\.used_mib p95: .*; 1 more gate\(s\) failed$/,
      ),
    });
  });

  it('fails a percent gate on any increase over a zero baseline', () => {
    const gate: TelemetryGate = { metric: 'memory.used_mib', stat: 'p95', maxIncreasePercent: 100 };
    const verdict = evaluateTelemetryGates(
      input({
        gates: [gate],
        cohorts: [{ cohort: siteA, updated: [updatedDevice('u0', 1)], baseline: baselineOf(0, 0, 0) }],
      }),
    );

    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringContaining('is above not-yet-updated devices 0.00'),
    });
  });
});

describe('baselineCohortsOf', () => {
  const located = (i: number, site: string, fromVersion = '1.0.0'): UpdatedDeviceTelemetry => ({
    ...updatedDevice(`u${i}`, 100),
    region: 'eu',
    site,
    hardwareType: 'gw-v2',
    fromVersion,
  });

  it('groups updated devices by region, site, hardware type and from-version, largest first', () => {
    const { cohorts, skipped } = baselineCohortsOf([
      located(0, 's1'),
      located(1, 's2'),
      located(2, 's2'),
      located(3, 's2', '0.9.0'),
    ]);

    expect(cohorts).toEqual([
      { region: 'eu', site: 's2', hardwareType: 'gw-v2', version: '1.0.0' },
      { region: 'eu', site: 's1', hardwareType: 'gw-v2', version: '1.0.0' },
      { region: 'eu', site: 's2', hardwareType: 'gw-v2', version: '0.9.0' },
    ]);
    expect(skipped).toBe(0);
  });

  it(`reads at most ${MAX_GATE_COHORTS} cohorts`, () => {
    const updated = Array.from({ length: 40 }, (_, i) => located(i, `s${i % 20}`));

    const { cohorts, skipped } = baselineCohortsOf(updated);

    expect(cohorts).toHaveLength(MAX_GATE_COHORTS);
    expect(skipped).toBe(20 - MAX_GATE_COHORTS);
  });
});

describe('helpers', () => {
  it('takes the median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('keeps baseline telemetry for three soaks, or 15 minutes at least', () => {
    expect(baselineMaxAgeSeconds(0)).toBe(900);
    expect(baselineMaxAgeSeconds(600)).toBe(1800);
  });

  it('keys a cohort exactly as the ingestion does, labels with # and % included', () => {
    const cohorts: Cohort[] = [
      siteA,
      { region: 'eu#1', site: 'plant%2', hardwareType: 'gw#v2', version: '1.0.0+b#1' },
    ];

    for (const cohort of cohorts) expect(cohortKeyOf(cohort)).toBe(cohortKey(cohort));
    expect(cohortKeyOf(siteA)).toBe('eu#site-a#gw-v2#1.0.0');
  });
});
