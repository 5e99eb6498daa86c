import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import { ACTIVE_ROLLOUT_STATUSES, type Rollout } from '../../domain/rollout';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { RolloutOrchestrator } from '../../ports/rollout-orchestrator';
import type { RolloutStore } from '../../ports/rollout-store';

export type ControlAction = 'pause' | 'resume' | 'approve' | 'abort';

/**
 * What an operator can do to a running rollout:
 * - pause: the wave in progress finishes; the next one waits until resumed;
 * - resume: lets a paused rollout go on;
 * - approve: lets the next wave start after one that requires approval;
 * - abort: cancels the current wave's executions that have not started, starts nothing else,
 *   stops the run and frees the devices.
 */
export const makeControlRollout =
  (ports: { rollouts: RolloutStore; jobs: JobDispatcher; orchestrator: RolloutOrchestrator }) =>
  async (rolloutId: string, action: ControlAction, actor: string): Promise<Rollout> => {
    const { rollouts, jobs, orchestrator } = ports;
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const refuse = (): never => {
      throw new RolloutStateError(`Cannot ${action} rollout ${rolloutId}: it is ${rollout.status}`);
    };
    switch (action) {
      case 'pause':
        if (rollout.status !== 'running') refuse();
        return rollouts.transition(rolloutId, ['running'], { status: 'pausing' });
      case 'resume': {
        if (rollout.status === 'pausing')
          return rollouts.transition(rolloutId, ['pausing'], { status: 'running' });
        if (rollout.status !== 'paused') refuse();
        return proceed(rollouts, orchestrator, rolloutId, 'paused');
      }
      case 'approve':
        if (rollout.status !== 'awaiting-approval') refuse();
        return proceed(rollouts, orchestrator, rolloutId, 'awaiting-approval');
      case 'abort': {
        if (!ACTIVE_ROLLOUT_STATUSES.includes(rollout.status)) refuse();
        const aborted = await rollouts.transition(rolloutId, ACTIVE_ROLLOUT_STATUSES, {
          status: 'aborted',
          haltReason: `Aborted by ${actor}`,
          waves: rollout.waves.map((w) =>
            ['pending', 'running', 'soaking'].includes(w.status) ? { ...w, status: 'canceled' as const } : w,
          ),
        });
        const current = rollout.waves[rollout.currentWave];
        if (current?.jobId) await jobs.cancelJob(current.jobId, `aborted by ${actor}`);
        await orchestrator.stop(rolloutId, `aborted by ${actor}`);
        const executions = await rollouts.listExecutions(rolloutId);
        await rollouts.releaseDevices(
          rolloutId,
          executions.map((e) => e.deviceId),
        );
        return aborted;
      }
    }
  };

async function proceed(
  rollouts: RolloutStore,
  orchestrator: RolloutOrchestrator,
  rolloutId: string,
  from: Rollout['status'],
): Promise<Rollout> {
  const token = await rollouts.getTaskToken(rolloutId);
  const running = await rollouts.transition(rolloutId, [from], { status: 'running' });
  if (token) {
    await rollouts.setTaskToken(rolloutId, undefined);
    await orchestrator.proceed(token);
  }
  return running;
}
