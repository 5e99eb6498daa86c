import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { logger } from '../../shared/observability';
import { parseInput } from '../../shared/parse';
import { rollbackRollout } from '../../shared/rollout-ports/start-rollout';
import { callerName, httpErrors, json, requireRole } from '../http';
import { rolloutView } from './rollout-view';
import { RolloutPath } from './schemas';

/**
 * `POST /rollouts/{rolloutId}/rollback` of a rollout that ended: starts rollback rollouts that send
 * the devices it updated back to the releases they ran before. A function apart from the other
 * controls (control-rollout.handler.ts) because it starts rollouts, as POST /rollouts does.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { rolloutId } = parseInput(RolloutPath, event.pathParameters ?? {}, 'path');
    const actor = callerName(event);
    logger.info('Rollout control', { rolloutId, action: 'rollback', actor });
    const result = await rollbackRollout()(rolloutId, actor);
    return json(202, { rollouts: result.rollouts.map((r) => rolloutView(r)), skipped: result.skipped });
  });
