import { type OperatorRole, roleAllows } from '../../functions/domain/operator-role';

export type RolloutAction = 'pause' | 'resume' | 'approve' | 'abort' | 'rollback';

/** What each action needs, as the API decides it (use-cases/rollouts/control-rollout.ts, rollback-rollout.ts). */
const ALLOWED_FROM: Record<RolloutAction, readonly string[]> = {
  pause: ['running'],
  resume: ['paused', 'pausing'],
  approve: ['awaiting-approval'],
  abort: ['running', 'pausing', 'paused', 'awaiting-approval'],
  rollback: ['succeeded', 'halted', 'aborted', 'failed'],
};

/** Every action needs the operator role (the API's requireRole('operator')); admin includes it. */
const REQUIRED_ROLE: OperatorRole = 'operator';

/**
 * The buttons a rollout shows: those the caller's role may use and the rollout's status allows.
 * A viewer sees none. The API still decides; a refusal (409) is shown as its message.
 */
export function rolloutActions(role: OperatorRole | undefined, status: string): RolloutAction[] {
  if (!roleAllows(role, REQUIRED_ROLE)) return [];
  return (Object.keys(ALLOWED_FROM) as RolloutAction[]).filter((action) =>
    ALLOWED_FROM[action].includes(status),
  );
}

/** Starting a rollout needs the same role as controlling one. */
export const canStartRollouts = (role: OperatorRole | undefined) => roleAllows(role, REQUIRED_ROLE);

/** Statuses in which a rollout still changes, so its page keeps polling. */
export const ACTIVE_STATUSES: readonly string[] = ALLOWED_FROM.abort;
