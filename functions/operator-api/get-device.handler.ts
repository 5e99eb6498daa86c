import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeGetDevice } from '../use-cases/get-device';
import { deviceView } from './device-view';
import { httpErrors, json, requireRole } from './http';
import { DevicePath } from './schemas';

const getDevice = makeGetDevice({
  fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /devices/{deviceId}` */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    return json(200, deviceView(await getDevice(deviceId)));
  });
