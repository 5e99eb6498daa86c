import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeListDevices } from '../use-cases/list-devices';
import { deviceView } from './device-view';
import { httpErrors, json, requireRole } from './http';
import { ListDevicesQuery } from './schemas';

const listDevices = makeListDevices({
  fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/**
 * `GET /devices?site=&region=&hardwareType=&version=&connectionState=&health=&anomalous=&limit=&cursor=`:
 * one page of registered devices matching every filter given. Each request reads a bounded
 * amount, so a page may be short (even empty) and still carry `nextCursor`: follow it until null.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const query = parseInput(ListDevicesQuery, event.queryStringParameters ?? {}, 'query');
    const page = await listDevices(query);
    return json(200, { items: page.items.map(deviceView), nextCursor: page.nextCursor ?? null });
  });
