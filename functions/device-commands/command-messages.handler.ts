import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iotData } from '#clients/iot-data-plane';
import { s3 } from '#clients/s3';
import { COMMAND_TOPICS } from '../../contract/device-commands';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { DynamoDbDeviceInventoryStore } from '../adapters/dynamodb-device-inventory-store';
import { IotDeviceMessages } from '../adapters/iot-device-messages';
import { S3LogUploads } from '../adapters/s3-log-uploads';
import { makeDeviceEventBatch } from '../device-events/device-event-batch';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeIssueCommandUploadUrl } from '../use-cases/issue-command-upload-url';
import { makeRecordCommandInventory } from '../use-cases/record-command-inventory';
import { CommandMessageEnvelopeV1, openCommandMessage } from './command-message';

const tableName = requireEnv('FLEET_TABLE_NAME');
const issueUploadUrl = makeIssueCommandUploadUrl({
  commands: new DynamoDbCommandStore(dynamoDb, tableName),
  logs: new S3LogUploads(s3, requireEnv('LOGS_BUCKET_NAME')),
  clock: systemClock,
});
const recordInventory = makeRecordCommandInventory({
  inventory: new DynamoDbDeviceInventoryStore(dynamoDb, tableName),
});
const messages = new IotDeviceMessages(iotData);

const batch = makeDeviceEventBatch('command message', CommandMessageEnvelopeV1, async (envelope) => {
  const message = openCommandMessage(envelope);
  const { deviceId } = message;
  if (message.kind === 'upload-url') {
    const { request } = message;
    const answer = await issueUploadUrl(deviceId, request);
    const topic = answer.accepted
      ? COMMAND_TOPICS.uploadUrlAccepted(deviceId)
      : COMMAND_TOPICS.uploadUrlRejected(deviceId);
    await messages.publish(topic, answer.reply);
    logger.info('Log upload URL request', {
      deviceId,
      commandId: request.commandId,
      bytes: request.bytes,
      accepted: answer.accepted,
      ...(answer.accepted ? {} : { code: answer.reply.code }),
    });
    return;
  }
  const { inventory } = message;
  const outcome = await recordInventory(deviceId, inventory);
  logger.info('Device inventory', { deviceId, commandId: inventory.commandId, outcome });
});

/**
 * Takes batches of the messages devices send about their commands (the `edgeops/devices/+/
 * commands/+` rule's queue): log upload URL requests, answered over MQTT on the device's own
 * topic, and inventory reports, stored on the device item.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => batch(event, context));
