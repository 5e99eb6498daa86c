import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetHealthReader } from '../adapters/dynamodb-fleet-health-reader';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeListAnomalies } from '../use-cases/list-anomalies';
import { httpErrors, json, requireRole } from './http';
import { ListAnomaliesQuery } from './schemas';

const listAnomalies = makeListAnomalies({
  health: new DynamoDbFleetHealthReader(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /fleet/anomalies?limit=&cursor=`: the devices flagged as unlike their cohort, by device id. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const query = parseInput(ListAnomaliesQuery, event.queryStringParameters ?? {}, 'query');
    const page = await listAnomalies(query);
    return json(200, { items: page.items, nextCursor: page.nextCursor ?? null });
  });
