import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { logger } from '../../shared/observability';
import { parseJsonBody } from '../../shared/parse';
import { startRollout } from '../../shared/rollout-ports/start-rollout';
import { callerName, httpErrors, json, requireRole } from '../http';
import { toRolloutRequest } from './request';
import { rolloutView } from './rollout-view';
import { RolloutRequestBody } from './schemas';

/** `POST /rollouts`: plans as the preview does, records the rollout and starts its waves. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const body = parseJsonBody(RolloutRequestBody, event.body, event.isBase64Encoded);
    const { rollout, excluded } = await startRollout()(toRolloutRequest(body), callerName(event));
    logger.info('Rollout started', { rolloutId: rollout.rolloutId, releaseId: rollout.releaseId });
    return json(201, { rollout: rolloutView(rollout), excluded });
  });
