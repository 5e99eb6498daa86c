import type { output } from 'zod/v4/core';
import type { RolloutRequest } from '../../use-cases/rollouts/plan-rollout';
import type { RolloutRequestBody } from './schemas';

/** API body (waves as count/percent fields) → use-case request (waves with a size). */
export function toRolloutRequest(body: output<typeof RolloutRequestBody>): RolloutRequest {
  return {
    releaseId: body.releaseId,
    target: body.target,
    failurePolicy: body.failurePolicy,
    force: body.force,
    waves: body.waves.map(({ count, percent, ...rest }) => ({
      ...rest,
      size: count !== undefined ? { count } : { percent: percent ?? 100 },
    })),
  };
}
