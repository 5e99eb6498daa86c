import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { dynamoDb } from '../shared/clients';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordConnection } from '../use-cases/record-device-report';
import { parseDeviceEvent } from './parse-event';
import { ConnectionEventV1 } from './schemas';

const recordConnection = makeRecordConnection({
  fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** Invoked by the presence topic rule for every connect and disconnect the broker sees. */
export const handler = middy<unknown, void>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const presence = parseDeviceEvent(ConnectionEventV1, event, 'connection event');
    if (!presence) return;
    const outcome = await recordConnection({
      deviceId: presence.clientId,
      state: presence.eventType,
      at: new Date(presence.timestamp),
    });
    logger.info('Connection event', { deviceId: presence.clientId, state: presence.eventType, outcome });
  });
