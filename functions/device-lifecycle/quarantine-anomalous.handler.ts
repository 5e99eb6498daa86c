import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { DEVICE_ID_PATTERN } from '../../contract/identifiers';
import * as z from '../../contract/zod-mini';
import { DeviceRetiredError } from '../domain/device-lifecycle';
import { DeviceNotFoundError } from '../domain/errors';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeQuarantineDevice } from '../use-cases/quarantine-device';
import { lifecyclePorts } from './lifecycle-ports';

const quarantineDevice = makeQuarantineDevice(lifecyclePorts());

/** The part of a `Device Anomaly Flagged` event (functions/adapters/eventbridge-fleet-event-publisher.ts) we act on. */
const AnomalyFlagged = z.object({
  deviceId: z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: not a device id')),
  metric: z.string(),
  score: z.number(),
  runId: z.optional(z.string()),
});

/**
 * Quarantines a device the fleet analysis flagged, when the stack turns this on
 * (`autoQuarantineOnAnomaly`, off by default): EventBridge rule on `Device Anomaly Flagged` →
 * this Lambda. A clear does not release the device: an operator looks and releases it.
 * Retired and unknown devices are skipped; EventBridge retries anything else that fails.
 */
export const handler = middy<EventBridgeEvent<string, unknown>, void>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const { deviceId, metric, score, runId } = parseInput(AnomalyFlagged, event.detail, 'anomaly event');
    try {
      const { canceledJobs } = await quarantineDevice({
        deviceId,
        reason: `anomaly: ${metric} (score ${score.toFixed(1)}${runId ? `, run ${runId}` : ''})`,
        by: 'fleet-analysis',
        source: 'anomaly',
      });
      logger.info('Device quarantined on an anomaly flag', { deviceId, metric, score, canceledJobs });
    } catch (error) {
      if (error instanceof DeviceNotFoundError || error instanceof DeviceRetiredError) {
        logger.warn('Anomaly flag of a device that cannot be quarantined', {
          deviceId,
          reason: (error as Error).message,
        });
        return;
      }
      throw error;
    }
  });
