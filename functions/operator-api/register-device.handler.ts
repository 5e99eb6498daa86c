import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { IotDeviceIdentityProvider } from '../adapters/iot-device-identity';
import { systemClock } from '../ports/clock';
import { dynamoDb, iot } from '../shared/clients';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseJsonBody } from '../shared/parse';
import { makeRegisterDevice } from '../use-cases/register-device';
import { deviceView } from './device-view';
import { httpErrors, json, requireRole } from './http';
import { RegisterDeviceRequest } from './schemas';

const registerDevice = makeRegisterDevice({
  fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  identity: new IotDeviceIdentityProvider(iot, requireEnv('DEVICE_POLICY_NAME')),
  clock: systemClock,
});

/** `POST /devices`: the response carries the device's private key; it is not stored anywhere. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const request = parseJsonBody(RegisterDeviceRequest, event.body, event.isBase64Encoded);
    const { device, credentials, mqttEndpoint } = await registerDevice(request);
    logger.info('Device registered', { deviceId: device.deviceId, certificateId: credentials.certificateId });
    return json(201, {
      device: deviceView(device),
      credentials: {
        certificateId: credentials.certificateId,
        certificatePem: credentials.certificatePem,
        privateKey: credentials.privateKey,
      },
      mqtt: { endpoint: mqttEndpoint, clientId: device.deviceId },
    });
  });
