import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { jobs } from '../shared/rollout-ports/jobs';
import { rollbackRollout } from '../shared/rollout-ports/start-rollout';
import { rollouts } from '../shared/rollout-ports/stores';
import { makeFinishRollout } from '../use-cases/rollouts/run-waves';
import { FinishRequest } from './schemas';

/**
 * The rollout state machine's last step: records how the run ended, cancels and ends its waves,
 * and under the rollback policy starts the rollback of a halted rollout. A function apart from
 * the other steps (steps.handler.ts) because only it starts rollouts: only its bundle and its
 * role carry what that takes (targets, plans, the state machine).
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const request = parseInput(FinishRequest, event, 'finish request');
    logger.appendKeys({ rolloutId: request.rolloutId, step: request.step });
    const finish = makeFinishRollout({ rollouts: rollouts(), jobs: jobs(), rollback: rollbackRollout() });
    const rollout = await finish(
      request.rolloutId,
      request.outcome === 'halted'
        ? { outcome: 'halted', reason: request.reason ?? 'halted' }
        : { outcome: 'succeeded' },
    );
    return { status: rollout.status };
  });
