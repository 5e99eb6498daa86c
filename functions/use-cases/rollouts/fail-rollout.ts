import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import { ACTIVE_ROLLOUT_STATUSES, type Rollout } from '../../domain/rollout';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { RolloutStore } from '../../ports/rollout-store';
import { cancelCurrentJob, endStartedWaves, settle } from './wave-groups';

/** What Step Functions hands a Catch: the error's name and its cause (for a Lambda, JSON). */
export interface StepError {
  readonly Error?: string;
  readonly Cause?: string;
}

/** Longest halt reason a failure records. */
export const MAX_FAILURE_REASON = 1000;

/**
 * The reason a failed step gives, for people: `<error>: <message>`. A Lambda's cause is the JSON
 * of its error (`errorType`, `errorMessage`, `trace`); only its message is kept.
 */
export function failureReason(error: StepError): string {
  let message = error.Cause?.trim() ?? '';
  try {
    const cause: unknown = JSON.parse(message);
    if (cause && typeof cause === 'object' && 'errorMessage' in cause)
      message = String((cause as { errorMessage: unknown }).errorMessage);
  } catch {}
  const reason = `Run failed: ${error.Error ?? 'unknown error'}${message ? `: ${message}` : ''}`;
  return reason.length > MAX_FAILURE_REASON ? `${reason.slice(0, MAX_FAILURE_REASON - 1)}…` : reason;
}

export interface FailResult {
  /** The rollout as it is now; failed, unless it had ended otherwise already. */
  readonly rollout: Rollout;
  /** Cleanup that did not happen (logged by the caller); none of it undoes the failure. */
  readonly problems: readonly string[];
}

/**
 * Ends a rollout whose run broke (a step failed after its retries, or the run ended while the
 * rollout waited on it):
 * 1. moves any active status to `failed`, recording the reason, and marks the waves that had not
 *    ended canceled. Its devices are free at once: a claim counts only while its rollout is
 *    active. A rollout that already ended otherwise (succeeded, halted, aborted) keeps its status;
 * 2. best effort, each failure reported and none stopping the others: cancels what the current
 *    wave's job has not started (unless the rollout succeeded), and ends the grouping of every
 *    wave that started, also for a rollout that ended otherwise, whose own cleanup may be what
 *    failed.
 * Running it again (a retry) repeats only the cleanup.
 */
export const makeFailRollout =
  ({ rollouts, jobs }: { rollouts: RolloutStore; jobs: JobDispatcher }) =>
  async (rolloutId: string, reason: string): Promise<FailResult> => {
    let rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    if (ACTIVE_ROLLOUT_STATUSES.includes(rollout.status)) {
      try {
        rollout = await rollouts.transition(rolloutId, ACTIVE_ROLLOUT_STATUSES, {
          status: 'failed',
          haltReason: reason,
          waves: rollout.waves.map((w) =>
            ['pending', 'running', 'soaking'].includes(w.status) ? { ...w, status: 'canceled' as const } : w,
          ),
        });
      } catch (error) {
        // It ended another way meanwhile (an abort, say): that ending stands.
        if (!(error instanceof RolloutStateError)) throw error;
        rollout = (await rollouts.getRollout(rolloutId)) ?? rollout;
      }
    }
    const problems = await settle([
      // A success leaves its last job alone (as finishing does); any other end cancels what is left.
      ...(rollout.status === 'succeeded' ? [] : cancelCurrentJob(jobs, rollout, `rollout ${rollout.status}`)),
      ...endStartedWaves(jobs, rollout),
    ]);
    return { rollout, problems };
  };
