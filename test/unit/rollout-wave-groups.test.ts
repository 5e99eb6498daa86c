import { describe, expect, it } from 'vitest';
import {
  InMemoryJobDispatcher,
  MAX_THING_GROUPS_PER_THING,
  ThingGroupLimitError,
} from '../../functions/adapters/in-memory-job-dispatcher';
import type { JobDispatcher } from '../../functions/ports/job-dispatcher';
import { CleanupIncompleteError } from '../../functions/use-cases/rollouts/wave-groups';
import { rolloutHarness, waves } from './rollout-harness';

const edgeOpsGroups = (jobs: InMemoryJobDispatcher, deviceId: string) =>
  jobs.groupsOf(deviceId).filter((g) => g.startsWith('edgeops-'));

describe('InMemoryJobDispatcher: thing groups as AWS IoT limits them', () => {
  it(`refuses to put a thing in an 11th group`, () => {
    const jobs = new InMemoryJobDispatcher();
    for (let i = 0; i < MAX_THING_GROUPS_PER_THING; i++) jobs.addThingToGroup('d1', `g${i}`);

    expect(() => jobs.addThingToGroup('d1', 'one-too-many')).toThrow(ThingGroupLimitError);
    expect(jobs.groupsOf('d1')).toHaveLength(MAX_THING_GROUPS_PER_THING);
  });

  it('lets a thing join again once a group is deleted, and keeps the job that targeted it', async () => {
    const jobs = new InMemoryJobDispatcher();
    for (let i = 0; i < MAX_THING_GROUPS_PER_THING - 1; i++) jobs.addThingToGroup('d1', `own-${i}`);
    await jobs.prepareWave('ro-1-w0');
    await jobs.addToWave('ro-1-w0', ['d1']);
    await expect(jobs.addToWave('ro-2-w0', ['d1'])).rejects.toBeInstanceOf(ThingGroupLimitError);

    await jobs.endWave('ro-1-w0');
    await jobs.addToWave('ro-2-w0', ['d1']);

    expect(jobs.groupsOf('d1')).toContain('edgeops-ro-2-w0');
    expect(jobs.groupsOf('d1')).not.toContain('edgeops-ro-1-w0');
  });
});

describe('wave thing groups over a device life', () => {
  it('keeps a device in at most one wave group through 12 rollouts, and in none once each ends', async () => {
    const versions = Array.from({ length: 13 }, (_, i) => `1.${i}.0`);
    const t = rolloutHarness({ deviceCount: 2, versions });
    // Each device also sits in 8 groups of its operator's: two left for EdgeOps.
    for (const d of t.devices) for (let g = 0; g < 8; g++) t.groups.addThingToGroup(d.deviceId, `fleet-${g}`);

    for (const version of versions.slice(1)) {
      const { rollout } = await t.startRollout(t.request({ releaseId: `rel-${version}` }), 'ops');
      const seen: number[] = [];
      const finished = await t.runToEnd(rollout.rolloutId, undefined, () => {
        for (const d of t.devices) seen.push(edgeOpsGroups(t.groups, d.deviceId).length);
      });

      expect(finished?.status, finished?.haltReason).toBe('succeeded');
      expect(Math.max(...seen)).toBe(1);
      for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
      expect(t.devices.every((d) => d.firmwareVersion === version)).toBe(true);
    }
  });

  it("deletes a passed wave's group before the next wave's devices are grouped", async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(t.request(), 'ops');
    const groupsWhenLaunched: string[][] = [];

    await t.runToEnd(rollout.rolloutId, undefined, () => {
      groupsWhenLaunched.push([...new Set(t.devices.flatMap((d) => edgeOpsGroups(t.groups, d.deviceId)))]);
    });

    expect(groupsWhenLaunched).toEqual([
      [`edgeops-${rollout.rolloutId}-w0`],
      [`edgeops-${rollout.rolloutId}-w1`],
    ]);
  });

  it("ends a halted rollout's wave groups", async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(t.request(), 'ops');

    const halted = await t.runToEnd(rollout.rolloutId, () => 'rolled-back');

    expect(halted?.status).toBe('halted');
    for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
  });

  it("cancels a halted wave's executions that have not started", async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(t.request({ waves: waves({ size: { count: 2 } }, {}) }), 'ops');
    await t.steps.next(rollout.rolloutId);
    await t.launchWave(rollout.rolloutId, 0);
    const jobId = `${rollout.rolloutId}-w0`;
    const [failing, waiting] = t.groups.jobs.get(jobId)?.deviceIds ?? [];
    await t.playWave(rollout.rolloutId, 0, (id) => (id === failing ? 'rolled-back' : 'silent'));

    await t.steps.finish(rollout.rolloutId, { outcome: 'halted', reason: 'wave 1 failed' });

    expect(t.groups.canceled).toEqual([jobId]);
    expect(t.groups.jobs.get(jobId)?.executions.get(waiting as string)).toBe('CANCELED');
    for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
  });

  it("ends the current wave's group when an operator aborts", async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(t.request(), 'ops');
    await t.steps.next(rollout.rolloutId);
    await t.launchWave(rollout.rolloutId, 0);
    expect(t.devices.some((d) => edgeOpsGroups(t.groups, d.deviceId).length === 1)).toBe(true);

    await t.control(rollout.rolloutId, 'abort', 'ops');

    for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
  });
});

describe('finishRollout cleanup', () => {
  /** The in-memory dispatcher, whose endWave fails the first `failures` times. */
  const flakyEndWave = (failures: number) => (groups: InMemoryJobDispatcher) => {
    let left = failures;
    const jobs: JobDispatcher = {
      prepareWave: (id) => groups.prepareWave(id),
      addToWave: (id, devices) => groups.addToWave(id, devices),
      startJob: (id, document) => groups.startJob(id, document),
      cancelJob: (id) => groups.cancelJob(id),
      endWave: async (id) => {
        if (left-- > 0) throw new Error('ThrottlingException: slow down');
        return groups.endWave(id);
      },
    };
    return jobs;
  };

  it('fails the step after trying all of it when a group cannot be deleted; the retry finishes it', async () => {
    const t = rolloutHarness({ deviceCount: 2, jobs: flakyEndWave(1) });
    const { rollout } = await t.startRollout(t.request({ waves: waves({}) }), 'ops');
    await t.steps.next(rollout.rolloutId);
    await t.launchWave(rollout.rolloutId, 0);
    await t.playWave(rollout.rolloutId, 0, () => 'healthy');

    await expect(t.steps.finish(rollout.rolloutId, { outcome: 'succeeded' })).rejects.toBeInstanceOf(
      CleanupIncompleteError,
    );
    expect((await t.rollouts.getRollout(rollout.rolloutId))?.status).toBe('succeeded');
    expect(edgeOpsGroups(t.groups, 'd00')).toHaveLength(1);

    const retried = await t.steps.finish(rollout.rolloutId, { outcome: 'succeeded' });

    expect(retried.status).toBe('succeeded');
    expect(edgeOpsGroups(t.groups, 'd00')).toEqual([]);
  });

  it('starts the policy rollback once, however often the halted finish is retried', async () => {
    const t = rolloutHarness({ deviceCount: 4, jobs: flakyEndWave(1) });
    const { rollout } = await t.startRollout(
      t.request({ failurePolicy: 'rollback', waves: waves({ size: { count: 2 } }, {}) }),
      'ops',
    );
    await t.steps.next(rollout.rolloutId);
    await t.launchWave(rollout.rolloutId, 0);
    const [first, second] = t.groups.jobs.get(`${rollout.rolloutId}-w0`)?.deviceIds ?? [];
    await t.playWave(rollout.rolloutId, 0, (id) => (id === first ? 'healthy' : 'rolled-back'));
    expect(second).toBeDefined();

    await expect(
      t.steps.finish(rollout.rolloutId, { outcome: 'halted', reason: 'wave 1 failed' }),
    ).rejects.toBeInstanceOf(CleanupIncompleteError);
    await t.steps.finish(rollout.rolloutId, { outcome: 'halted', reason: 'wave 1 failed' });

    expect(t.calls.started.filter((id) => id !== rollout.rolloutId)).toHaveLength(1);
  });
});
