import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iotData } from '#clients/iot-data-plane';
import { sqs } from '#clients/sqs';
import * as z from '../../contract/zod-mini';
import { DynamoDbDeviceConfigStore } from '../adapters/dynamodb-device-config-store';
import { IotConfigShadow } from '../adapters/iot-config-shadow';
import { SqsConfigFanOutQueue } from '../adapters/sqs-config-fan-out-queue';
import { ValidationError } from '../domain/errors';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeRunConfigFanOutPage } from '../use-cases/run-config-fan-out-page';

const runPage = makeRunConfigFanOutPage(
  {
    store: new DynamoDbDeviceConfigStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
    shadow: new IotConfigShadow(iotData),
    queue: new SqsConfigFanOutQueue(sqs, requireEnv('CONFIG_FAN_OUT_QUEUE_URL')),
  },
  {
    pageSize: Number(process.env.CONFIG_FAN_OUT_PAGE_SIZE ?? 100),
    maxPerSecond: Number(process.env.CONFIG_FAN_OUT_MAX_PER_SECOND ?? 50),
  },
);

const label = z.string().check(z.regex(/^[A-Za-z0-9_.@/:#=-]{1,64}$/, 'a site label'));
const FanOutMessage = z.strictObject({
  scope: z.union([
    z.strictObject({ layer: z.literal('fleet') }),
    z.strictObject({ layer: z.literal('site'), site: label }),
    z.strictObject({
      layer: z.literal('device'),
      deviceId: z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/, 'a device id')),
    }),
  ]),
  cursor: z.optional(z.string().check(z.maxLength(4096))),
  restarts: z.optional(z.number().check(z.int(), z.nonnegative())),
});

const processor = new BatchProcessor(EventType.SQS);

async function handlePage(record: SQSRecord): Promise<void> {
  let message: z.infer<typeof FanOutMessage>;
  try {
    message = parseInput(FanOutMessage, JSON.parse(record.body), 'fan-out message');
  } catch (error) {
    // Only this function's own API and itself write to the queue: a bad message is a bug, not input to retry.
    logger.error('Dropped a malformed configuration fan-out message', {
      reason:
        error instanceof ValidationError || error instanceof SyntaxError ? error.message : String(error),
    });
    return;
  }
  const result = await runPage(message);
  logger.info('Configuration fan-out page done', { scope: message.scope, ...result });
}

/**
 * Takes one page of a configuration fan-out per message (the queue's mapping has batch size 1):
 * delivers the merged configuration to that page's devices and queues the next page. A page
 * that fails (its reads, or queuing the next) goes back to the queue and is tried again; after
 * the last receive it lands in the dead-letter queue.
 */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => processPartialResponse(event, handlePage, processor, { context }));
