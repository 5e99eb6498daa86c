import type { ConfigReportV1 } from '../../contract/device-config';
import type { DeviceConfigStore } from '../ports/device-config-store';

/**
 * Stores what a device reports it applied. The store keeps only reports newer (by the device's
 * `seq`) than the last, and sets or clears the device's drift flag against the revision desired
 * for it, so duplicated and reordered deliveries of the batched event path change nothing.
 */
export const makeRecordConfigReport =
  (ports: { store: DeviceConfigStore }) =>
  (deviceId: string, report: ConfigReportV1): Promise<boolean> =>
    ports.store.recordReport(deviceId, {
      revision: report.revision,
      applied: report.applied,
      rejected: report.rejected,
      seq: report.seq,
      reportedAt: new Date(report.reportedAt).toISOString(),
    });
