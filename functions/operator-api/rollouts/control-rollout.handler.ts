import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import * as z from '../../../contract/zod-mini';
import { logger } from '../../shared/observability';
import { parseInput } from '../../shared/parse';
import { jobs } from '../../shared/rollout-ports/jobs';
import { orchestrator } from '../../shared/rollout-ports/orchestrator';
import { rollouts } from '../../shared/rollout-ports/stores';
import { makeControlRollout } from '../../use-cases/rollouts/control-rollout';
import { callerName, httpErrors, json, requireRole } from '../http';
import { rolloutView } from './rollout-view';
import { RolloutPath } from './schemas';

const Action = z.enum(['pause', 'resume', 'approve', 'abort']);

/**
 * `POST /rollouts/{rolloutId}/{pause|resume|approve|abort}`. A rollback starts a rollout, which
 * takes other clients and grants: rollback-rollout.handler.ts.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { rolloutId } = parseInput(RolloutPath, event.pathParameters ?? {}, 'path');
    const action = parseInput(Action, event.resource.split('/').pop(), 'action');
    const actor = callerName(event);
    logger.info('Rollout control', { rolloutId, action, actor });
    const control = makeControlRollout({ rollouts: rollouts(), jobs: jobs(), orchestrator: orchestrator() });
    return json(200, rolloutView(await control(rolloutId, action, actor)));
  });
