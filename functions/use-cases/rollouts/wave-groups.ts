/**
 * A wave's devices are grouped for its job only while the wave runs: AWS IoT lets a thing be in
 * at most 10 thing groups, so groups left behind would fail a device's 11th rollout. Every way a
 * wave ends (its gate passed, the rollout halted, failed, was aborted, or succeeded) ends its
 * grouping; each of these is idempotent, so doing it twice is harmless.
 */
import { RolloutNotFoundError } from '../../domain/errors';
import type { Rollout } from '../../domain/rollout';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { RolloutStore } from '../../ports/rollout-store';

/** Cleanup after a rollout's end did not all happen; running the step again finishes it. */
export class CleanupIncompleteError extends Error {
  override readonly name = 'CleanupIncompleteError';
}

/** Runs every cleanup action, even after one fails; returns what failed, one line each. */
export async function settle(actions: readonly (readonly [string, () => Promise<unknown>])[]) {
  const problems: string[] = [];
  for (const [what, action] of actions) {
    try {
      await action();
    } catch (error) {
      problems.push(`${what}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
    }
  }
  return problems;
}

/** The actions that end the grouping of every wave of `rollout` that started. */
export const endStartedWaves = (jobs: JobDispatcher, rollout: Rollout) =>
  rollout.waves.flatMap((w) =>
    w.jobId ? [[`end wave ${w.index + 1} (${w.jobId})`, () => jobs.endWave(w.jobId as string)] as const] : [],
  );

/** The action that cancels what the current wave's job has not started yet, if a wave started. */
export function cancelCurrentJob(jobs: JobDispatcher, rollout: Rollout, reason: string) {
  const jobId = rollout.waves[rollout.currentWave]?.jobId;
  return jobId ? [[`cancel job ${jobId}`, () => jobs.cancelJob(jobId, reason)] as const] : [];
}

/**
 * Ends a wave whose gate passed, before the next wave's devices are grouped: its devices leave
 * its group (the group is deleted). Its job's executions stay; the rollout goes on.
 */
export const makeEndWave =
  ({ rollouts, jobs }: { rollouts: RolloutStore; jobs: JobDispatcher }) =>
  async (rolloutId: string, waveIndex: number): Promise<{ ended: boolean }> => {
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const jobId = rollout.waves[waveIndex]?.jobId;
    if (!jobId) return { ended: false };
    await jobs.endWave(jobId);
    return { ended: true };
  };
