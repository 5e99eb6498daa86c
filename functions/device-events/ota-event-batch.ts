import { OtaEventV1 } from '../../contract/ota';
import * as z from '../../contract/zod-mini';
import { logger } from '../shared/observability';
import type { makeRecordOtaEvent } from '../use-cases/rollouts/record-ota-event';
import { type DeviceEventBatch, makeDeviceEventBatch } from './device-event-batch';

/**
 * What the OTA rule forwards: the device's event with `thingName` from the topic added by the
 * rule (`SELECT *, topic(3) AS thingName`; the alias comes last, so a payload cannot forge it).
 */
const OtaRuleFields = z.looseObject({ thingName: z.string() });
export const OtaRuleEvent = z.pipe(
  z.pipe(
    OtaRuleFields,
    z.transform(({ thingName, ...event }: z.output<typeof OtaRuleFields>) => ({ thingName, event })),
  ),
  z.object({ thingName: z.string(), event: OtaEventV1 }),
);

/** Progress and health events devices publish, from the OTA rule's queue. */
export const makeOtaEventBatch = (ports: {
  readonly recordOtaEvent: ReturnType<typeof makeRecordOtaEvent>;
}): DeviceEventBatch =>
  makeDeviceEventBatch('OTA event', OtaRuleEvent, async ({ thingName, event }) => {
    const outcome = await ports.recordOtaEvent(event, thingName);
    logger.info('OTA event', {
      deviceId: thingName,
      rolloutId: event.rolloutId,
      stage: event.stage,
      seq: event.seq,
      outcome,
    });
  });
