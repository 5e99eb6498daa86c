import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { iotData } from '#clients/iot-data-plane';
import { s3 } from '#clients/s3';
import { DynamoDbBandwidthPolicyStore } from '../adapters/dynamodb-bandwidth-policy-store';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { DynamoDbTrustStore } from '../adapters/dynamodb-trust-store';
import { IotDeviceIdentityProvider } from '../adapters/iot-device-identity';
import { IotDeviceShadow } from '../adapters/iot-device-shadow';
import { S3TrustFiles } from '../adapters/s3-trust-files';
import { systemClock } from '../ports/clock';
import { deviceConnectionFromEnv } from '../shared/device-connection-config';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseJsonBody } from '../shared/parse';
import { makeRegisterDevice } from '../use-cases/register-device';
import { makeGetTrustRoot } from '../use-cases/trust/get-trust-root';
import { deviceView } from './device-view';
import { httpErrors, json, requireRole } from './http';
import { RegisterDeviceRequest } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const registerDevice = makeRegisterDevice({
  fleetStore: new DynamoDbFleetStore(dynamoDb, tableName),
  identity: new IotDeviceIdentityProvider(iot, requireEnv('DEVICE_POLICY_NAME'), deviceConnectionFromEnv()),
  clock: systemClock,
  policies: new DynamoDbBandwidthPolicyStore(dynamoDb, tableName),
  shadow: new IotDeviceShadow(iotData),
});
const trustRoot = makeGetTrustRoot({
  store: new DynamoDbTrustStore(dynamoDb, tableName),
  files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
});

/**
 * `POST /devices`: the response carries the device's certificate, its private key when AWS IoT
 * made it (with a CSR the key stays on the device; it is stored nowhere either way), where and how
 * to connect (MQTT host and port, the CA to trust), and the newest TUF root, which the device
 * trusts from then on (absent before the root ceremony).
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const request = parseJsonBody(RegisterDeviceRequest, event.body, event.isBase64Encoded);
    const { device, credentials, connection } = await registerDevice(request);
    const root = await trustRoot();
    logger.info('Device registered', {
      deviceId: device.deviceId,
      certificateId: credentials.certificateId,
      fromCsr: request.csr !== undefined,
    });
    return json(201, {
      device: deviceView(device),
      credentials: {
        certificateId: credentials.certificateId,
        certificatePem: credentials.certificatePem,
        ...(credentials.privateKey === undefined ? {} : { privateKey: credentials.privateKey }),
      },
      // `endpoint` is the host, as before (it is what DescribeEndpoint names in AWS).
      mqtt: { ...connection.mqtt, endpoint: connection.mqtt.host, clientId: device.deviceId },
      caCertificatePem: connection.caCertificatePem,
      ...(root === undefined ? {} : { trustRoot: root }),
    });
  });
