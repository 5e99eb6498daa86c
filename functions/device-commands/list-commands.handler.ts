import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { httpErrors, json, requireRole } from '../operator-api/http';
import { DevicePath } from '../operator-api/schemas';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeListDeviceCommands } from '../use-cases/list-device-commands';
import { commandView, ListCommandsQuery } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const listCommands = makeListDeviceCommands({
  fleet: new DynamoDbFleetStore(dynamoDb, tableName),
  commands: new DynamoDbCommandStore(dynamoDb, tableName),
});

/** `GET /devices/{deviceId}/commands?limit=&cursor=` (viewer): the device's commands, newest first. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const query = parseInput(ListCommandsQuery, event.queryStringParameters ?? {}, 'query');
    const page = await listCommands(deviceId, query);
    return json(200, { items: page.items.map((c) => commandView(c)), nextCursor: page.nextCursor ?? null });
  });
