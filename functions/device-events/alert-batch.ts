import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { SQSRecord } from 'aws-lambda';
import { AlertV1 } from '../../contract/telemetry';
import * as z from '../../contract/zod-mini';
import { logger } from '../shared/observability';
import type { makeRecordAlert } from '../use-cases/record-alert';
import { type DeviceEventBatch, ruleMessage } from './device-event-batch';
import { parseDeviceEvent } from './parse-event';
import { RuleFields, splitThingName } from './telemetry-batch';

/** What the alert rule forwards: the device's AlertV1 with `thingName` from the topic. */
export const AlertRuleEvent = z.pipe(
  z.pipe(RuleFields, splitThingName),
  z.object({ thingName: z.string(), event: AlertV1 }),
);

/**
 * Alerts devices publish, from the alert rule's queue, each on its own and at once: a malformed
 * one is logged with the reason and dropped, one that failed (an AWS error) is retried alone. As
 * makeDeviceEventBatch does, except that the use case gets the SQS message id, by which a retry of
 * the same message is told from a device's resend (use-cases/record-alert.ts).
 */
export const makeAlertBatch = (ports: {
  readonly recordAlert: ReturnType<typeof makeRecordAlert>;
}): DeviceEventBatch => {
  const processor = new BatchProcessor(EventType.SQS);
  const message = ruleMessage(AlertRuleEvent);
  const applyRecord = async (record: SQSRecord) => {
    const parsed = parseDeviceEvent(message, record.body, 'device alert');
    if (parsed === undefined) return;
    const { thingName: deviceId, event: alert } = parsed;
    try {
      const outcome = await ports.recordAlert({ messageId: record.messageId, deviceId, alert });
      if (outcome === 'unknown-device')
        logger.warn('Alert of an unknown device', { deviceId, alertId: alert.alertId });
      else
        logger.info('Device alert', { deviceId, alertId: alert.alertId, severity: alert.severity, outcome });
    } catch (error) {
      logger.error('Could not record device alert; it will be retried', {
        error,
        messageId: record.messageId,
      });
      throw error;
    }
  };
  return (event, context) => processPartialResponse(event, applyRecord, processor, { context });
};
