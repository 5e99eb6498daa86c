import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { logger } from '../../shared/observability';
import { parseInput } from '../../shared/parse';
import { rollouts } from '../../shared/rollout-ports/stores';
import { makeGetRolloutStatus, makeListRolloutDevices } from '../../use-cases/rollouts/rollout-status';
import { httpErrors, json, requireRole } from '../http';
import { rolloutView } from './rollout-view';
import { ListRolloutsQuery, RolloutDevicesQuery, RolloutPath } from './schemas';

/**
 * Read side of rollouts: `GET /rollouts`, `GET /rollouts/{rolloutId}` (with a funnel and bytes
 * sent / saved per wave, and the halt reason) and `GET /rollouts/{rolloutId}/devices?wave=&stage=&limit=&cursor=`.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    if (event.resource === '/rollouts') {
      const query = parseInput(ListRolloutsQuery, event.queryStringParameters ?? {}, 'query');
      const page = await rollouts().listRollouts(query.limit, query.cursor);
      return json(200, { items: page.items.map((r) => rolloutView(r)), nextCursor: page.nextCursor ?? null });
    }
    const { rolloutId } = parseInput(RolloutPath, event.pathParameters ?? {}, 'path');
    if (event.resource.endsWith('/devices')) {
      const query = parseInput(RolloutDevicesQuery, event.queryStringParameters ?? {}, 'query');
      const page = await makeListRolloutDevices({ rollouts: rollouts() })(rolloutId, {
        ...query,
        ...(query.wave !== undefined ? { wave: query.wave - 1 } : {}),
      });
      return json(200, {
        items: page.items.map((e) => ({ ...e, wave: e.waveIndex + 1, waveIndex: undefined })),
        nextCursor: page.nextCursor ?? null,
      });
    }
    const status = await makeGetRolloutStatus({ rollouts: rollouts() })(rolloutId);
    return json(200, rolloutView(status.rollout, status));
  });
