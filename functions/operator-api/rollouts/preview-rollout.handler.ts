import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { logger } from '../../shared/observability';
import { parseJsonBody } from '../../shared/parse';
import { planRollout } from '../../shared/rollout-ports/plan-rollout';
import { httpErrors, json, requireRole } from '../http';
import { toRolloutRequest } from './request';
import { RolloutRequestBody } from './schemas';

/** `POST /rollouts/preview`: who would land in which wave; starts and writes nothing. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const body = parseJsonBody(RolloutRequestBody, event.body, event.isBase64Encoded);
    const plan = await planRollout()(toRolloutRequest(body));
    return json(200, {
      releaseId: plan.release.releaseId,
      version: plan.release.version,
      waves: plan.waves.map((w) => ({ wave: w.index + 1, deviceIds: w.deviceIds })),
      excluded: plan.excluded,
      strata: plan.strata,
    });
  });
