import { randomUUID } from 'node:crypto';
import type { Context, SQSEvent } from 'aws-lambda';
import { TelemetryBatchV1 } from '../../contract/telemetry';
import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';
import { logger } from '../shared/observability';
import type { makeRecordTelemetry, TelemetryMessage } from '../use-cases/record-telemetry';
import type { DeviceEventBatch } from './device-event-batch';
import { ruleMessage } from './device-event-batch';
import { parseDeviceEvent } from './parse-event';

/**
 * What a device-event rule forwards as `SELECT *, topic(3) AS thingName`: the device's payload
 * with the thing name from the topic added last (so a payload cannot forge it), split back into
 * the two so the payload can be checked strictly.
 */
export const RuleFields = z.looseObject({
  thingName: z.string().check(z.regex(DEVICE_ID_PATTERN, 'not a valid device id')),
});
export const splitThingName = z.transform(({ thingName, ...event }: z.output<typeof RuleFields>) => ({
  thingName,
  event,
}));

/** What the telemetry rule forwards: a TelemetryBatchV1 and the thing name. */
export const TelemetryRuleEvent = z.pipe(
  z.pipe(RuleFields, splitThingName),
  z.object({ thingName: z.string(), event: TelemetryBatchV1 }),
);

/**
 * Telemetry batches from the telemetry rule's queue, all recorded by one use-case call, because an
 * invocation writes one history object for all of them (use-cases/record-telemetry.ts). A message
 * that does not parse, or whose batch does not decode, is logged with the reason and dropped; one
 * that failed (an AWS error, or its history could not be written) is reported for retry.
 */
export const makeTelemetryBatch =
  (ports: { readonly recordTelemetry: ReturnType<typeof makeRecordTelemetry> }): DeviceEventBatch =>
  async (event: SQSEvent, context?: Context) => {
    const message = ruleMessage(TelemetryRuleEvent);
    const messages: TelemetryMessage[] = [];
    for (const record of event.Records) {
      const parsed = parseDeviceEvent(message, record.body, 'telemetry batch');
      if (parsed !== undefined)
        messages.push({ messageId: record.messageId, deviceId: parsed.thingName, batch: parsed.event });
    }
    const result = await ports.recordTelemetry(context?.awsRequestId ?? randomUUID(), messages);

    for (const { messageId, deviceId, batch } of messages) {
      const outcome = result.outcomes.get(messageId);
      const fields = { messageId, deviceId, firstSeq: batch.firstSeq, lastSeq: batch.lastSeq };
      if (outcome?.kind === 'refused')
        logger.warn('Rejected telemetry batch', { ...fields, reason: outcome.reason });
      else if (outcome?.kind === 'failed')
        logger.error('Could not record telemetry batch; it will be retried', {
          ...fields,
          error: outcome.error,
        });
      else if (outcome?.kind === 'unknown-device')
        logger.warn('Telemetry batch of an unknown device', fields);
      else logger.info('Telemetry batch', { ...fields, outcome: outcome?.kind });
    }
    if (result.historyError !== undefined)
      logger.error('Could not write the telemetry history; its batches will be retried', {
        error: result.historyError,
      });
    return { batchItemFailures: result.failedMessageIds.map((itemIdentifier) => ({ itemIdentifier })) };
  };
