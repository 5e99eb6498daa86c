import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '../shared/observability';
import { rollouts } from '../shared/rollout-ports/stores';
import { makeRecordJobExecutionEvent } from '../use-cases/rollouts/record-job-execution-event';
import { makeJobExecutionEventBatch } from './job-execution-event-batch';

const recordJobExecutionEvents = makeJobExecutionEventBatch({
  recordJobExecutionEvent: makeRecordJobExecutionEvent({ rollouts: rollouts() }),
});

/** Takes batches of AWS IoT job execution events from the job execution rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordJobExecutionEvents(event, context));
