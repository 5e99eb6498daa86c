import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordConnection } from '../use-cases/record-device-report';
import { makeConnectionEventBatch } from './connection-event-batch';

const recordConnectionEvents = makeConnectionEventBatch({
  recordConnection: makeRecordConnection({
    fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  }),
});

/** Takes batches of the connects and disconnects the broker saw from the presence rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordConnectionEvents(event, context));
