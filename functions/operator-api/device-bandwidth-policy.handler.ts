import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iotData } from '#clients/iot-data-plane';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { DynamoDbBandwidthPolicyStore } from '../adapters/dynamodb-bandwidth-policy-store';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { IotDeviceShadow } from '../adapters/iot-device-shadow';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeSetDeviceBandwidthPolicy } from '../use-cases/set-device-bandwidth-policy';
import { httpErrors, json, requireRole } from './http';
import { DevicePath } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const setPolicy = makeSetDeviceBandwidthPolicy({
  fleetStore: new DynamoDbFleetStore(dynamoDb, tableName),
  policies: new DynamoDbBandwidthPolicyStore(dynamoDb, tableName),
  shadow: new IotDeviceShadow(iotData),
});

/**
 * `PUT /devices/{deviceId}/bandwidth-policy` (body: the policy) and `DELETE` of the same path.
 * Both methods need the same grants, so one function serves the resource.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const policy =
      event.httpMethod === 'DELETE'
        ? undefined
        : parseJsonBody(BandwidthPolicy, event.body, event.isBase64Encoded);
    const result = await setPolicy(deviceId, policy);
    logger.info('Device bandwidth policy set', { deviceId, source: result.effective.source });
    return json(200, {
      deviceId,
      bandwidthPolicy: result.policy ?? null,
      effective: { source: result.effective.source, bandwidthPolicy: result.effective.policy ?? null },
    });
  });
