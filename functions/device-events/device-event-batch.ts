import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { $ZodType, output } from 'zod/v4/core';
import * as z from '../../contract/zod-mini';
import { ValidationError } from '../domain/errors';
import { logger } from '../shared/observability';
import { parseDeviceEvent } from './parse-event';

/** A batch of device events from a route's queue (lib/device-gateway.ts), and what failed of it. */
export type DeviceEventBatch = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** An SQS message body holding the JSON a topic rule selected, parsed with `schema`. */
export const ruleMessage = <S extends $ZodType>(schema: S) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((body: string, ctx): unknown => {
        try {
          return JSON.parse(body);
        } catch {
          ctx.issues.push({ code: 'custom', message: 'not valid JSON', input: body });
          return z.NEVER;
        }
      }),
    ),
    schema,
  );

/**
 * Applies each device event of a batch, independently (and concurrently) of the others:
 * 1. A body that is not JSON or does not match `schema` is logged with the reason and dropped.
 * 2. `apply` records the event. A ValidationError from it (well formed, but not acceptable, such
 *    as a device speaking for another) is logged and dropped too: no retry can change it.
 * 3. Anything else it throws (an SDK error) fails that record only: it goes back to the queue, is
 *    tried again after the visibility timeout, and after the last receive lands in the dead-letter
 *    queue. The use cases are idempotent, so a retried or duplicated event changes nothing twice.
 */
export function makeDeviceEventBatch<S extends $ZodType>(
  what: string,
  schema: S,
  apply: (event: output<S>) => Promise<void>,
): DeviceEventBatch {
  const processor = new BatchProcessor(EventType.SQS);
  const message = ruleMessage(schema);
  const applyRecord = async (record: SQSRecord) => {
    const event = parseDeviceEvent(message, record.body, what);
    if (event === undefined) return;
    try {
      await apply(event);
    } catch (error) {
      if (error instanceof ValidationError) {
        logger.warn(`Rejected ${what}`, { reason: error.message, messageId: record.messageId });
        return;
      }
      logger.error(`Could not apply ${what}; it will be retried`, { error, messageId: record.messageId });
      throw error;
    }
  };
  return (event, context) => processPartialResponse(event, applyRecord, processor, { context });
}
