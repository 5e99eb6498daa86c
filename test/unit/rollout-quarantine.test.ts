import { describe, expect, it } from 'vitest';
import { makeAddWaveDevices } from '../../functions/use-cases/rollouts/run-waves';
import { rolloutHarness, waves } from './rollout-harness';

describe('makeAddWaveDevices with a device quarantined or retired after planning', () => {
  it('leaves it out of the wave job and ends its execution as canceled (counted failed)', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(t.request({ waves: waves({ size: { percent: 100 } }) }), 'ops');
    const { rolloutId } = rollout;
    await t.steps.next(rolloutId);
    await t.steps.startWave(rolloutId, 0);
    const asked: string[] = [];
    const add = makeAddWaveDevices({
      rollouts: t.rollouts,
      jobs: t.jobs,
      pageSize: 3,
      eligibility: {
        ineligible: async (ids) => {
          asked.push(...ids);
          return new Set(ids.filter((id) => id === 'd01'));
        },
      },
    });

    let cursor: string | undefined;
    let added = 0;
    let skipped = 0;
    do {
      const page = await add(rolloutId, 0, cursor);
      added += page.added;
      skipped += page.skipped ?? 0;
      cursor = page.cursor;
    } while (cursor);
    await t.steps.createWaveJob(rolloutId, 0);

    expect([added, skipped]).toEqual([3, 1]);
    expect([...asked].sort()).toEqual(['d00', 'd01', 'd02', 'd03']);
    expect(t.groups.jobs.get(`${rolloutId}-w0`)?.deviceIds).toEqual(expect.not.arrayContaining(['d01']));
    expect(t.groups.jobs.get(`${rolloutId}-w0`)?.deviceIds).toHaveLength(3);
    const [counts] = await t.rollouts.waveCounts(rolloutId);
    expect(counts?.failed).toBe(1);
    const executions = await t.rollouts.listExecutions(rolloutId, 0);
    expect(executions.find((e) => e.deviceId === 'd01')?.jobStatus).toBe('CANCELED');
  });

  it('adds every device when none became ineligible', async () => {
    const t = rolloutHarness({ deviceCount: 2 });
    const { rollout } = await t.startRollout(t.request({ waves: waves({ size: { percent: 100 } }) }), 'ops');
    await t.steps.next(rollout.rolloutId);
    await t.steps.startWave(rollout.rolloutId, 0);

    const page = await makeAddWaveDevices({
      rollouts: t.rollouts,
      jobs: t.jobs,
      eligibility: { ineligible: async () => new Set() },
    })(rollout.rolloutId, 0);

    expect(page).toEqual({ added: 2 });
  });
});
