import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { logger } from '../shared/observability';
import { rollouts } from '../shared/rollout-ports/stores';
import { makeRecordOtaEvent } from '../use-cases/rollouts/record-ota-event';
import { makeOtaEventBatch } from './ota-event-batch';

const recordOtaEvents = makeOtaEventBatch({ recordOtaEvent: makeRecordOtaEvent({ rollouts: rollouts() }) });

/** Takes batches of the progress and health events devices publish from the OTA rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordOtaEvents(event, context));
