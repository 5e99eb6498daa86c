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
import { makeSetSiteBandwidthPolicy } from '../use-cases/set-site-bandwidth-policy';
import { httpErrors, json, requireRole } from './http';
import { SitePath } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const setPolicy = makeSetSiteBandwidthPolicy({
  fleetStore: new DynamoDbFleetStore(dynamoDb, tableName),
  policies: new DynamoDbBandwidthPolicyStore(dynamoDb, tableName),
  shadow: new IotDeviceShadow(iotData),
});

/**
 * `PUT /sites/{site}/bandwidth-policy` (body: the policy) and `DELETE` of the same path. The
 * site's devices without a policy of their own get it through their shadows; the answer says how
 * many, and names any it could not reach (repeat the request for them).
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { site } = parseInput(SitePath, event.pathParameters ?? {}, 'path');
    const policy =
      event.httpMethod === 'DELETE'
        ? undefined
        : parseJsonBody(BandwidthPolicy, event.body, event.isBase64Encoded);
    const result = await setPolicy(site, policy);
    const devices = {
      updated: result.devicesUpdated,
      withOwnPolicy: result.devicesWithOwnPolicy,
      failed: result.devicesFailed,
    };
    if (devices.failed.length > 0)
      logger.warn('Site bandwidth policy not delivered to every device', { site, devices });
    else logger.info('Site bandwidth policy set', { site, devices });
    return json(200, { site, bandwidthPolicy: result.policy ?? null, devices });
  });
