import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import { ACTIVE_ROLLOUT_STATUSES, type Rollout } from '../../domain/rollout';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { RolloutOrchestrator } from '../../ports/rollout-orchestrator';
import type { RolloutStore } from '../../ports/rollout-store';
import { makeFailRollout } from './fail-rollout';
import { CleanupIncompleteError, cancelCurrentJob, endStartedWaves, settle } from './wave-groups';

export type ControlAction = 'pause' | 'resume' | 'approve' | 'abort';

/** Times an action re-reads the rollout after the run changed it under the action's feet. */
const MAX_ATTEMPTS = 3;

/** The action is not one the rollout's status allows: the answer, not a race to retry. */
class RefusedError extends RolloutStateError {}

/**
 * What an operator can do to a running rollout:
 * - pause: the wave in progress finishes; the next one waits until resumed;
 * - resume: lets a paused rollout go on;
 * - approve: lets the next wave start after one that requires approval;
 * - abort: starts nothing else, stops the run, cancels the current wave's executions that have
 *   not started and ends every started wave's grouping; the devices are free at once. Aborting
 *   an aborted rollout repeats that cleanup (so a failed abort can simply be sent again).
 *
 * The state machine changes the rollout at the same time. Each action decides from the status it
 * reads and writes only if that status still holds; if the run moved on meanwhile, it reads again
 * and decides again. An action the status does not allow is a RolloutStateError (409), never a
 * server error: a job that completed, a run that ended, a token nothing waits on any more are
 * states, not failures. Resuming or approving a rollout whose run ended while it waited fails
 * the rollout (nothing would ever drive it again) and says so.
 */
export const makeControlRollout = (ports: {
  rollouts: RolloutStore;
  jobs: JobDispatcher;
  orchestrator: RolloutOrchestrator;
}) => {
  const { rollouts, jobs, orchestrator } = ports;
  const fail = makeFailRollout({ rollouts, jobs });

  async function proceed(rolloutId: string, action: ControlAction, from: Rollout['status']) {
    const token = await rollouts.getTaskToken(rolloutId);
    const running = await rollouts.transition(rolloutId, [from], { status: 'running' });
    await rollouts.setTaskToken(rolloutId, undefined);
    let outcome: 'resumed' | 'gone' = 'gone';
    try {
      if (token) outcome = await orchestrator.proceed(token);
    } catch (error) {
      // Nothing was resumed: put the rollout back as it was, so that the operator can try again.
      await rollouts.setTaskToken(rolloutId, token);
      await rollouts.transition(rolloutId, ['running'], { status: from });
      throw error;
    }
    if (outcome === 'resumed') return running;
    const { rollout } = await fail(rolloutId, `The run ended while the rollout was ${from}`);
    throw new RefusedError(
      `Cannot ${action} rollout ${rolloutId}: its run ended while it was ${from}, so it is ${rollout.status} now`,
    );
  }

  async function abort(rollout: Rollout, actor: string) {
    const { rolloutId } = rollout;
    const aborted =
      rollout.status === 'aborted'
        ? rollout
        : await rollouts.transition(rolloutId, ACTIVE_ROLLOUT_STATUSES, {
            status: 'aborted',
            haltReason: `Aborted by ${actor}`,
            waves: rollout.waves.map((w) =>
              ['pending', 'running', 'soaking'].includes(w.status)
                ? { ...w, status: 'canceled' as const }
                : w,
            ),
          });
    // The run first, so it groups no more devices; then what it left behind.
    const problems = await settle([
      ['stop the run', () => orchestrator.stop(rolloutId, `aborted by ${actor}`)],
      ...cancelCurrentJob(jobs, aborted, `aborted by ${actor}`),
      ...endStartedWaves(jobs, aborted),
    ]);
    if (problems.length > 0)
      throw new CleanupIncompleteError(
        `Rollout ${rolloutId} is aborted, but cleanup failed (abort again): ${problems.join('; ')}`,
      );
    return aborted;
  }

  async function decide(rollout: Rollout, action: ControlAction, actor: string): Promise<Rollout> {
    const { rolloutId, status } = rollout;
    const refuse = (): never => {
      throw new RefusedError(`Cannot ${action} rollout ${rolloutId}: it is ${status}`);
    };
    switch (action) {
      case 'pause':
        if (status !== 'running') refuse();
        return rollouts.transition(rolloutId, ['running'], { status: 'pausing' });
      case 'resume':
        if (status === 'pausing') return rollouts.transition(rolloutId, ['pausing'], { status: 'running' });
        if (status !== 'paused') refuse();
        return proceed(rolloutId, action, 'paused');
      case 'approve':
        if (status !== 'awaiting-approval') refuse();
        return proceed(rolloutId, action, 'awaiting-approval');
      case 'abort':
        if (status !== 'aborted' && !ACTIVE_ROLLOUT_STATUSES.includes(status)) refuse();
        return abort(rollout, actor);
    }
  }

  return async (rolloutId: string, action: ControlAction, actor: string): Promise<Rollout> => {
    for (let attempt = 1; ; attempt++) {
      const rollout = await rollouts.getRollout(rolloutId);
      if (!rollout) throw new RolloutNotFoundError(rolloutId);
      try {
        return await decide(rollout, action, actor);
      } catch (error) {
        // The status changed between the read and the write: decide again from the new one.
        const raced = error instanceof RolloutStateError && !(error instanceof RefusedError);
        if (!raced || attempt >= MAX_ATTEMPTS) throw error;
      }
    }
  };
};
