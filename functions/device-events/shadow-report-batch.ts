import { logger } from '../shared/observability';
import type { makeRecordDeviceReport } from '../use-cases/record-device-report';
import { type DeviceEventBatch, makeDeviceEventBatch } from './device-event-batch';
import { ShadowReportEventV1 } from './schemas';

/** Shadow reports from the shadow rule's queue: each reported firmware version is recorded. */
export const makeShadowReportBatch = (ports: {
  readonly recordDeviceReport: ReturnType<typeof makeRecordDeviceReport>;
}): DeviceEventBatch =>
  makeDeviceEventBatch('shadow report', ShadowReportEventV1, async (report) => {
    const firmwareVersion = report.state.reported.firmwareVersion;
    if (firmwareVersion === undefined) return;
    const outcome = await ports.recordDeviceReport({
      deviceId: report.thingName,
      firmwareVersion,
      shadowVersion: report.version,
      reportedAt: new Date(report.timestamp * 1000),
    });
    logger.info('Shadow report', { deviceId: report.thingName, firmwareVersion, outcome });
  });
