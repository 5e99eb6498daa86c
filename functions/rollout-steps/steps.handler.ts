import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import {
  clock,
  deltas,
  jobs,
  orchestrator,
  releases,
  rollbackRollout,
  rollouts,
  trustRepository,
} from '../shared/rollout-ports';
import { makePlanDeltas } from '../use-cases/rollouts/plan-deltas';
import {
  makeCheckWave,
  makeFinishRollout,
  makeNextStep,
  makeParkRollout,
  makeStartWave,
} from '../use-cases/rollouts/run-waves';
import { StepRequest } from './schemas';

const healthCheckSeconds = Number(requireEnv('DEVICE_HEALTH_CHECK_SECONDS'));
const waveTimeoutMinutes = Number(requireEnv('WAVE_TIMEOUT_MINUTES'));

/**
 * The rollout state machine's steps. One function (its steps share nearly all permissions),
 * the step chosen by the state; each step is one use case.
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const request = parseInput(StepRequest, event, 'step request');
    logger.appendKeys({ rolloutId: request.rolloutId, step: request.step });
    switch (request.step) {
      case 'plan-deltas': {
        const plan = await makePlanDeltas({ rollouts: rollouts(), releases: releases(), deltas: deltas() })(
          request.rolloutId,
        );
        logger.info('Deltas planned', { builds: plan.builds.length });
        return plan;
      }
      case 'next':
        return makeNextStep({ rollouts: rollouts() })(request.rolloutId);
      case 'start-wave':
        return makeStartWave({
          rollouts: rollouts(),
          releases: releases(),
          deltas: deltas(),
          trust: trustRepository(),
          jobs: jobs(),
          clock,
          settings: { healthCheckSeconds },
        })(request.rolloutId, request.waveIndex);
      case 'check-wave':
        return makeCheckWave({ rollouts: rollouts(), jobs: jobs(), clock, waveTimeoutMinutes })(
          request.rolloutId,
          request.waveIndex,
          request.phase,
        );
      case 'park':
        await makeParkRollout({ rollouts: rollouts(), orchestrator: orchestrator() })(
          request.rolloutId,
          request.taskToken,
          request.kind,
        );
        return {};
      case 'finish': {
        const finish = makeFinishRollout({ rollouts: rollouts(), jobs: jobs(), rollback: rollbackRollout() });
        const rollout = await finish(
          request.rolloutId,
          request.outcome === 'halted'
            ? { outcome: 'halted', reason: request.reason ?? 'halted' }
            : { outcome: 'succeeded' },
        );
        return { status: rollout.status };
      }
    }
  });
