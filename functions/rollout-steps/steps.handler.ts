import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { jobs } from '../shared/rollout-ports/jobs';
import { orchestrator } from '../shared/rollout-ports/orchestrator';
import { plans } from '../shared/rollout-ports/plans';
import { clock, deltas, releases, rollouts } from '../shared/rollout-ports/stores';
import { telemetryBaseline } from '../shared/rollout-ports/telemetry-baseline';
import { trustRepository } from '../shared/rollout-ports/trust-repository';
import { failureReason, makeFailRollout } from '../use-cases/rollouts/fail-rollout';
import { makePlanDeltas } from '../use-cases/rollouts/plan-deltas';
import {
  makeAddWaveDevices,
  makeCheckWave,
  makeCreateWaveJob,
  makeNextStep,
  makeParkRollout,
  makeStartWave,
  makeWriteExecutions,
} from '../use-cases/rollouts/run-waves';
import { makeEndWave } from '../use-cases/rollouts/wave-groups';
import { StepRequest } from './schemas';

const healthCheckSeconds = Number(requireEnv('DEVICE_HEALTH_CHECK_SECONDS'));
const waveTimeoutMinutes = Number(requireEnv('WAVE_TIMEOUT_MINUTES'));

/**
 * The rollout state machine's steps. One function (its steps share nearly all permissions),
 * the step chosen by the state; each step is one use case. The last one, which may start a
 * rollback, is finish.handler.ts.
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const request = parseInput(StepRequest, event, 'step request');
    logger.appendKeys({ rolloutId: request.rolloutId, step: request.step });
    switch (request.step) {
      case 'write-executions': {
        const written = await makeWriteExecutions({ rollouts: rollouts(), plans: plans() })(
          request.rolloutId,
          request.piece,
        );
        logger.info('Executions written', { piece: request.piece, written: written.written });
        return written;
      }
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
        return makeStartWave({ rollouts: rollouts(), jobs: jobs(), clock })(
          request.rolloutId,
          request.waveIndex,
        );
      case 'add-wave-devices': {
        const page = await makeAddWaveDevices({ rollouts: rollouts(), jobs: jobs() })(
          request.rolloutId,
          request.waveIndex,
          request.cursor ?? undefined,
        );
        logger.info('Wave devices added', { waveIndex: request.waveIndex, added: page.added });
        // Always a `cursor` key, so the state machine's Choice can test it for null.
        return { added: page.added, cursor: page.cursor ?? null };
      }
      case 'create-wave-job':
        return makeCreateWaveJob({
          rollouts: rollouts(),
          releases: releases(),
          deltas: deltas(),
          trust: trustRepository(),
          jobs: jobs(),
          settings: { healthCheckSeconds },
        })(request.rolloutId, request.waveIndex);
      case 'check-wave':
        return makeCheckWave({
          rollouts: rollouts(),
          jobs: jobs(),
          clock,
          waveTimeoutMinutes,
          telemetry: telemetryBaseline(),
        })(request.rolloutId, request.waveIndex, request.phase);
      case 'park':
        await makeParkRollout({ rollouts: rollouts(), orchestrator: orchestrator() })(
          request.rolloutId,
          request.taskToken,
          request.kind,
        );
        return {};
      case 'end-wave':
        return makeEndWave({ rollouts: rollouts(), jobs: jobs() })(request.rolloutId, request.waveIndex);
      case 'fail': {
        const reason = failureReason(request.error);
        const { rollout, problems } = await makeFailRollout({ rollouts: rollouts(), jobs: jobs() })(
          request.rolloutId,
          reason,
        );
        logger.error('Rollout run failed', { reason, status: rollout.status });
        for (const problem of problems) logger.warn('Cleanup after a failed run did not happen', { problem });
        return { status: rollout.status };
      }
    }
  });
