import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { rollouts } from '../shared/rollout-ports/stores';
import { makeRecordCommandExecution } from '../use-cases/record-command-execution';
import { makeRecordJobExecutionEvent } from '../use-cases/rollouts/record-job-execution-event';
import { makeJobExecutionEventBatch } from './job-execution-event-batch';

const recordJobExecutionEvents = makeJobExecutionEventBatch({
  recordJobExecutionEvent: makeRecordJobExecutionEvent({ rollouts: rollouts() }),
  recordCommandExecution: makeRecordCommandExecution({
    commands: new DynamoDbCommandStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  }),
});

/** Takes batches of AWS IoT job execution events from the job execution rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordJobExecutionEvents(event, context));
