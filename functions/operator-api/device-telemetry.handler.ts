import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetHealthReader } from '../adapters/dynamodb-fleet-health-reader';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeGetDeviceTelemetry } from '../use-cases/get-device-telemetry';
import { alertView, windowView } from './device-view';
import { httpErrors, json, requireRole } from './http';
import { DevicePath, DeviceTelemetryQuery } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const getDeviceTelemetry = makeGetDeviceTelemetry({
  fleetStore: new DynamoDbFleetStore(dynamoDb, tableName),
  health: new DynamoDbFleetHealthReader(dynamoDb, tableName),
});

/** `GET /devices/{deviceId}/telemetry?since=&limit=`: the device's latest windows and alerts, newest first. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const query = parseInput(DeviceTelemetryQuery, event.queryStringParameters ?? {}, 'query');
    const telemetry = await getDeviceTelemetry({ deviceId, ...query });
    return json(200, {
      deviceId,
      windows: telemetry.windows.map(windowView),
      alerts: telemetry.alerts.map(alertView),
    });
  });
