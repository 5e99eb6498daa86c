import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iotData } from '#clients/iot-data-plane';
import { s3 } from '#clients/s3';
import { DynamoDbDeviceConfigStore } from '../adapters/dynamodb-device-config-store';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { DynamoDbProvisioningAllowlist } from '../adapters/dynamodb-provisioning-allowlist';
import { DynamoDbTrustStore } from '../adapters/dynamodb-trust-store';
import { IotConfigShadow } from '../adapters/iot-config-shadow';
import { IotDeviceMessenger } from '../adapters/iot-device-messenger';
import { S3TrustFiles } from '../adapters/s3-trust-files';
import { makeDeviceEventBatch } from '../device-events/device-event-batch';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeDeliverDeviceConfig } from '../use-cases/deliver-device-config';
import { makeWelcomeProvisionedDevice } from '../use-cases/provisioning/welcome-provisioned-device';
import { makeGetTrustRoot } from '../use-cases/trust/get-trust-root';
import { HelloRuleMessage } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const welcome = makeWelcomeProvisionedDevice({
  allowlist: new DynamoDbProvisioningAllowlist(dynamoDb, requireEnv('ALLOWLIST_TABLE_NAME')),
  fleetStore: new DynamoDbFleetStore(dynamoDb, tableName),
  deliverConfig: makeDeliverDeviceConfig({
    store: new DynamoDbDeviceConfigStore(dynamoDb, tableName),
    shadow: new IotConfigShadow(iotData),
  }),
  messenger: new IotDeviceMessenger(iotData),
  trustRoot: makeGetTrustRoot({
    store: new DynamoDbTrustStore(dynamoDb, tableName),
    files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  }),
  clock: systemClock,
});

const welcomeBatch = makeDeviceEventBatch('device hello', HelloRuleMessage, async (message) => {
  const { deviceId, certificateId, schemaVersion, requestId } = message;
  const outcome = await welcome({ deviceId, certificateId, request: { schemaVersion, requestId } });
  logger.info('Device hello', { deviceId, outcome });
});

/**
 * Takes batches of devices' first "hello" from the hello rule's queue: records devices
 * provisioned by claim in the registry and answers each with its trust root and configuration.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => welcomeBatch(event, context));
