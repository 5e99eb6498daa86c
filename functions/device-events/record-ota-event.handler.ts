import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { ValidationError } from '../domain/errors';
import { OtaEventV1 } from '../domain/ota-contract';
import { logger } from '../shared/observability';
import { rollouts } from '../shared/rollout-ports';
import { makeRecordOtaEvent } from '../use-cases/rollouts/record-ota-event';
import { parseDeviceEvent } from './parse-event';

const recordOtaEvent = makeRecordOtaEvent({ rollouts: rollouts() });

/**
 * What the OTA rule forwards: the device's event with `thingName` from the topic added by the
 * rule (`SELECT *, topic(3) AS thingName`; the alias comes last, so a payload cannot forge it).
 */
const OtaRuleEvent = z
  .looseObject({ thingName: z.string() })
  .transform(({ thingName, ...event }) => ({ thingName, event }))
  .pipe(z.object({ thingName: z.string(), event: OtaEventV1 }));

/** Invoked by the OTA topic rule for every progress or health event a device publishes. */
export const handler = middy<unknown, void>()
  .use(injectLambdaContext(logger))
  .handler(async (raw) => {
    const parsed = parseDeviceEvent(OtaRuleEvent, raw, 'OTA event');
    if (!parsed) return;
    const { thingName, event } = parsed;
    try {
      const outcome = await recordOtaEvent(event, thingName);
      logger.info('OTA event', {
        deviceId: thingName,
        rolloutId: event.rolloutId,
        stage: event.stage,
        seq: event.seq,
        outcome,
      });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      logger.warn('Rejected OTA event', { deviceId: thingName, reason: error.message });
    }
  });
