import { logger } from '../shared/observability';
import type { makeRecordConnection } from '../use-cases/record-device-report';
import { type DeviceEventBatch, makeDeviceEventBatch } from './device-event-batch';
import { ConnectionEventV1 } from './schemas';

/** Connect and disconnect events from the presence rule's queue. */
export const makeConnectionEventBatch = (ports: {
  readonly recordConnection: ReturnType<typeof makeRecordConnection>;
}): DeviceEventBatch =>
  makeDeviceEventBatch('connection event', ConnectionEventV1, async (presence) => {
    const outcome = await ports.recordConnection({
      deviceId: presence.clientId,
      state: presence.eventType,
      at: new Date(presence.timestamp),
    });
    logger.info('Connection event', { deviceId: presence.clientId, state: presence.eventType, outcome });
  });
