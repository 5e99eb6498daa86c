import { describe, expect, it, vi } from 'vitest';
import { InMemoryTelemetryBaseline } from '../../functions/adapters/in-memory-telemetry-baseline';
import type { TelemetryGate } from '../../functions/domain/telemetry-gate';
import { rolloutView } from '../../functions/operator-api/rollouts/rollout-view';
import { makeCheckWave } from '../../functions/use-cases/rollouts/run-waves';
import { rolloutHarness, waves } from './rollout-harness';

const memoryGate: TelemetryGate = {
  metric: 'memory.used_mib',
  stat: 'p95',
  maxIncreasePercent: 10,
  minBaselineDevices: 3,
  onMissingData: 'halt',
};

/**
 * A rollout harness whose gate step reads telemetry from an in-memory fleet: every device starts
 * on 1.0.0 using `baselineMib`; a device of a wave reports `updatedMib(deviceId)` on 1.1.0 once
 * its wave started. `sites` spreads the devices over that many sites (cohorts).
 */
function gatedHarness(options: {
  deviceCount: number;
  sites?: number;
  baselineMib?: number;
  updatedMib?: (deviceId: string) => number;
}) {
  const { sites = 2, baselineMib = 128, updatedMib = () => baselineMib } = options;
  const t = rolloutHarness({ deviceCount: options.deviceCount });
  const telemetry = new InMemoryTelemetryBaseline();
  const siteOf = (i: number) => `site-${i % sites}`;
  const memory = (mib: number) => ({ 'memory.used_mib': { p95: mib, mean: mib, max: mib, sum: mib } });
  for (const [i, d] of t.devices.entries()) {
    telemetry.put({
      deviceId: d.deviceId,
      region: d.region,
      site: siteOf(i),
      hardwareType: d.hardwareType,
      version: '1.0.0',
      healthAt: new Date().toISOString(),
      metrics: memory(baselineMib),
    });
  }
  /** The steps' clock, which a test moves on (past a wave's deadline). */
  const clock = { skewMs: 0, now: () => new Date(Date.now() + clock.skewMs) };
  t.steps.check = makeCheckWave({
    rollouts: t.rollouts,
    jobs: t.jobs,
    clock,
    waveTimeoutMinutes: 60,
    telemetry,
  });
  /**
   * What the ingestion would write once the wave's devices run 1.1.0: a one-minute window that
   * began after the wave started (the harness settles waves at once, so the soak begins now).
   */
  const reportUpdated = async (rolloutId: string, waveIndex: number) => {
    const rollout = await t.rollouts.getRollout(rolloutId);
    const began = Math.max(Date.parse(rollout?.waves[waveIndex]?.startedAt ?? ''), Date.now()) + 1000;
    for (const deviceId of t.groups.jobs.get(`${rolloutId}-w${waveIndex}`)?.deviceIds ?? []) {
      const i = t.devices.findIndex((d) => d.deviceId === deviceId);
      telemetry.put({
        deviceId,
        region: 'eu',
        site: siteOf(i),
        hardwareType: 'rpi4',
        version: '1.1.0',
        healthAt: new Date(began + 60_000).toISOString(),
        windowSeconds: 60,
        metrics: memory(updatedMib(deviceId)),
      });
    }
  };
  return { ...t, telemetry, reportUpdated, clock };
}

describe('a wave with telemetry gates', () => {
  it('halts the rollout at the canary when updated devices use more memory than their cohort', async () => {
    const t = gatedHarness({ deviceCount: 10, updatedMib: () => 182 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 1 }, gates: [memoryGate] }, { size: { percent: 100 } }) }),
      'ops',
    );

    const finished = await t.runToEnd(rollout.rolloutId, undefined, (w) =>
      t.reportUpdated(rollout.rolloutId, w),
    );

    expect(finished).toMatchObject({
      status: 'halted',
      haltReason: expect.stringMatching(
        /^Wave 1 telemetry gate memory\.used_mib p95: updated devices 182\.0 \(median of 1, site-\d\/rpi4\) is 42\.2% above not-yet-updated devices 128\.0 \(median of [45] on 1\.0\.0\); allowed \+10%$/,
      ),
    });
    expect(finished?.waves.map((w) => w.status)).toEqual(['failed', 'canceled']);
    expect(finished?.waves[0]?.gateResults).toEqual([
      expect.objectContaining({ metric: 'memory.used_mib', stat: 'p95', outcome: 'failed', limit: 140.8 }),
    ]);
    // The second wave never started: its devices still run 1.0.0.
    expect(t.groups.jobs.has(`${rollout.rolloutId}-w1`)).toBe(false);
  });

  it('rolls the canary back when the failure policy says so', async () => {
    const t = gatedHarness({ deviceCount: 10, updatedMib: () => 300 });
    const { rollout } = await t.startRollout(
      t.request({
        failurePolicy: 'rollback',
        waves: waves({ size: { count: 1 }, gates: [memoryGate] }, { size: { percent: 100 } }),
      }),
      'ops',
    );

    await t.runToEnd(rollout.rolloutId, undefined, (w) => t.reportUpdated(rollout.rolloutId, w));

    expect(t.calls.started).toHaveLength(2);
    const rollback = await t.rollouts.getRollout(t.calls.started[1] as string);
    expect(rollback).toMatchObject({ operation: 'rollback', rollbackOf: rollout.rolloutId });
  });

  it('passes within the limit, records what it found, and the rollout goes on', async () => {
    const t = gatedHarness({ deviceCount: 10, updatedMib: () => 135 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 2 }, gates: [memoryGate] }, { size: { percent: 100 } }) }),
      'ops',
    );

    const finished = await t.runToEnd(rollout.rolloutId, undefined, (w) =>
      t.reportUpdated(rollout.rolloutId, w),
    );

    expect(finished?.status).toBe('succeeded');
    const [result] = finished?.waves[0]?.gateResults ?? [];
    expect(result).toMatchObject({
      outcome: 'passed',
      updated: { value: 135, devices: 1 },
      baseline: { value: 128, version: '1.0.0' },
    });
    expect(finished?.waves[1]?.gateResults).toBeUndefined();
    if (!finished) throw new Error('no rollout');
    const view = rolloutView(finished);
    expect(view.waves[0]).toMatchObject({ gates: [memoryGate], gateResults: [result] });
    expect(view.waves[1]).not.toHaveProperty('gates');
  });

  it("waits at the gate for the canary's first window on the new version, then decides", async () => {
    const t = gatedHarness({ deviceCount: 10, updatedMib: () => 182 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 1 }, gates: [memoryGate] }, { size: { percent: 100 } }) }),
      'ops',
    );
    let waited = 0;

    const finished = await t.runToEnd(
      rollout.rolloutId,
      () => 'healthy',
      () => {},
      async (waveIndex) => {
        waited++;
        await t.reportUpdated(rollout.rolloutId, waveIndex);
      },
    );

    expect(waited).toBe(1);
    expect(finished).toMatchObject({ status: 'halted' });
    expect(finished?.haltReason).toContain('is 42.2% above not-yet-updated devices');
  });

  it("halts when updated devices sent no telemetry by the wave's deadline", async () => {
    const t = gatedHarness({ deviceCount: 10 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 1 }, gates: [memoryGate] }, { size: { percent: 100 } }) }),
      'ops',
    );
    let waited = 0;

    const finished = await t.runToEnd(
      rollout.rolloutId,
      () => 'healthy',
      () => {},
      () => {
        // Polls until the wave's deadline (60 min) passes.
        waited++;
        t.clock.skewMs += 61 * 60_000;
      },
    );

    expect(waited).toBe(1);

    expect(finished).toMatchObject({
      status: 'halted',
      haltReason: expect.stringContaining(
        'no updated device sent memory.used_mib on 1.1.0 in a window since the soak began',
      ),
    });
  });

  it('does not read telemetry for a wave that failed its count gate', async () => {
    const t = gatedHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 2 }, gates: [memoryGate] }) }),
      'ops',
    );

    const finished = await t.runToEnd(rollout.rolloutId, () => 'rolled-back');

    expect(finished?.haltReason).toMatch(/^Wave 1: \d+ device\(s\) failed/);
    expect(t.telemetry.calls).toEqual({ deviceReads: 0, devicesRead: 0, cohortQueries: 0 });
  });

  it('reads the same bounded amount at the gate of a 600-device wave over 40 cohorts', async () => {
    const t = gatedHarness({ deviceCount: 1200, sites: 40, updatedMib: () => 130 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { percent: 50 }, gates: [memoryGate] }, { size: { percent: 100 } }) }),
      'ops',
    );
    const id = rollout.rolloutId;
    await t.steps.next(id);
    await t.launchWave(id, 0);
    await t.reportUpdated(id, 0);
    await t.playWave(id, 0, () => 'healthy');
    expect(await t.steps.check(id, 0, 'progress')).toMatchObject({ outcome: 'settled' });
    const pages = vi.spyOn(t.store, 'pageExecutions');

    const check = await t.steps.check(id, 0, 'gate');

    expect(check.outcome).toBe('passed');
    expect(pages).toHaveBeenCalledTimes(1);
    expect(pages.mock.calls[0]?.[1]).toMatchObject({ waveIndex: 0, limit: 100 });
    expect(t.telemetry.calls).toEqual({ deviceReads: 1, devicesRead: 100, cohortQueries: 16 });
    const [result] = (await t.rollouts.getRollout(id))?.waves[0]?.gateResults ?? [];
    expect(result).toMatchObject({ cohortsCompared: 16, cohortsWithoutData: 0 });
  });

  it('refuses to gate without telemetry to read rather than pass unchecked', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(
      t.request({ waves: waves({ size: { count: 1 }, gates: [memoryGate] }, {}) }),
      'ops',
    );

    await expect(t.runToEnd(rollout.rolloutId)).rejects.toThrow(
      /has telemetry gates but no telemetry to check them against/,
    );
  });
});
