import { describe, expect, it } from 'vitest';
import type { InMemoryJobDispatcher } from '../../functions/adapters/in-memory-job-dispatcher';
import type { JobDispatcher } from '../../functions/ports/job-dispatcher';
import { StepRequest } from '../../functions/rollout-steps/schemas';
import { failureReason, MAX_FAILURE_REASON } from '../../functions/use-cases/rollouts/fail-rollout';
import { rolloutHarness, waves } from './rollout-harness';

const edgeOpsGroups = (jobs: InMemoryJobDispatcher, deviceId: string) =>
  jobs.groupsOf(deviceId).filter((g) => g.startsWith('edgeops-'));

/** A rollout whose first wave's job exists, one device done, one not started yet. */
async function midWave(t: ReturnType<typeof rolloutHarness>) {
  const { rollout } = await t.startRollout(t.request({ waves: waves({ size: { count: 2 } }, {}) }), 'ops');
  await t.steps.next(rollout.rolloutId);
  await t.launchWave(rollout.rolloutId, 0);
  const [done] = t.groups.jobs.get(`${rollout.rolloutId}-w0`)?.deviceIds ?? [];
  await t.playWave(rollout.rolloutId, 0, (id) => (id === done ? 'healthy' : 'silent'));
  return rollout.rolloutId;
}

describe('failRollout (the state machine catch-all)', () => {
  it('marks an active rollout failed with the reason and cancels what its wave has not started', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);

    const { rollout, problems } = await t.steps.fail(
      rolloutId,
      'Run failed: Sandbox.Timedout: Task timed out',
    );

    expect(problems).toEqual([]);
    expect(rollout).toMatchObject({
      status: 'failed',
      haltReason: 'Run failed: Sandbox.Timedout: Task timed out',
    });
    expect(rollout.waves.map((w) => w.status)).toEqual(['canceled', 'canceled']);
    expect(t.groups.canceled).toEqual([`${rolloutId}-w0`]);
  });

  it('lets go of its devices: another rollout may take them, unforced', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);
    const deviceIds = t.devices.map((d) => d.deviceId);
    expect((await t.rollouts.activeClaims(deviceIds)).size).toBe(4);

    await t.steps.fail(rolloutId, 'Run failed: boom');

    expect((await t.rollouts.activeClaims(deviceIds)).size).toBe(0);
    const next = await t.startRollout(t.request({ waves: waves({}) }), 'ops');
    expect(next.excluded).toEqual([]);
  });

  it("ends every started wave's thing group", async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);
    expect(t.devices.some((d) => edgeOpsGroups(t.groups, d.deviceId).length > 0)).toBe(true);

    await t.steps.fail(rolloutId, 'Run failed: boom');

    for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
  });

  it('reports cleanup that failed, without throwing, and still does the rest', async () => {
    const t = rolloutHarness({
      deviceCount: 4,
      jobs: (groups): JobDispatcher => ({
        prepareWave: (id) => groups.prepareWave(id),
        addToWave: (id, devices) => groups.addToWave(id, devices),
        startJob: (id, document) => groups.startJob(id, document),
        cancelJob: async () => {
          throw new Error('ThrottlingException: rate exceeded');
        },
        endWave: (id) => groups.endWave(id),
      }),
    });
    const rolloutId = await midWave(t);

    const { rollout, problems } = await t.steps.fail(rolloutId, 'Run failed: boom');

    expect(rollout.status).toBe('failed');
    expect(problems).toEqual([`cancel job ${rolloutId}-w0: Error: ThrottlingException: rate exceeded`]);
    for (const d of t.devices) expect(edgeOpsGroups(t.groups, d.deviceId)).toEqual([]);
  });

  it.each(['aborted', 'halted'] as const)('leaves a rollout that ended %s as it is', async (ending) => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);
    if (ending === 'aborted') await t.control(rolloutId, 'abort', 'ops');
    else await t.steps.finish(rolloutId, { outcome: 'halted', reason: 'wave 1 failed' });

    const { rollout } = await t.steps.fail(rolloutId, 'Run failed: late');

    expect(rollout.status).toBe(ending);
    expect(rollout.haltReason).not.toMatch(/late/);
  });

  it('can run again (a retry): the failure stands and nothing throws', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);
    await t.steps.fail(rolloutId, 'Run failed: first');

    const again = await t.steps.fail(rolloutId, 'Run failed: second');

    expect(again.rollout).toMatchObject({ status: 'failed', haltReason: 'Run failed: first' });
    expect(again.problems).toEqual([]);
  });

  it('is refused by every operator control but rollback', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const rolloutId = await midWave(t);
    await t.steps.fail(rolloutId, 'Run failed: boom');

    for (const action of ['pause', 'resume', 'approve', 'abort'] as const)
      await expect(t.control(rolloutId, action, 'ops')).rejects.toThrow(
        `Cannot ${action} rollout ${rolloutId}: it is failed`,
      );
    await expect(t.rollback(rolloutId, 'ops')).resolves.toMatchObject({ skipped: [] });
  });
});

describe('failureReason', () => {
  it("keeps a Lambda error's name and message, not its stack", () => {
    const cause = JSON.stringify({
      errorType: 'TimeoutError',
      errorMessage: 'socket hang up',
      trace: ['at x'],
    });

    expect(failureReason({ Error: 'TimeoutError', Cause: cause })).toBe(
      'Run failed: TimeoutError: socket hang up',
    );
  });

  it('takes a plain cause as it is, and no cause at all', () => {
    expect(failureReason({ Error: 'States.Timeout', Cause: 'The task timed out' })).toBe(
      'Run failed: States.Timeout: The task timed out',
    );
    expect(failureReason({})).toBe('Run failed: unknown error');
  });

  it(`cuts a long reason to ${MAX_FAILURE_REASON} characters`, () => {
    const reason = failureReason({ Error: 'Error', Cause: 'x'.repeat(5000) });

    expect(reason).toHaveLength(MAX_FAILURE_REASON);
    expect(reason.endsWith('…')).toBe(true);
  });
});

describe('StepRequest for the wave-end and failure steps', () => {
  it.each([
    { step: 'end-wave', rolloutId: 'ro-0123456789ab', waveIndex: 1 },
    { step: 'fail', rolloutId: 'ro-0123456789ab', error: { Error: 'Sandbox.Timedout', Cause: '{}' } },
    { step: 'fail', rolloutId: 'ro-0123456789ab', error: {} },
  ])('accepts what the state machine sends: %j', (request) => {
    expect(StepRequest.parse(request)).toEqual(request);
  });

  it('refuses a fail step without the caught error', () => {
    expect(StepRequest.safeParse({ step: 'fail', rolloutId: 'ro-0123456789ab' }).success).toBe(false);
  });
});
