import type { ConnectionEvent, DeviceReport } from '../domain/device';
import type { FleetStore } from '../ports/fleet-store';

export type RecordOutcome = 'applied' | 'ignored';

/**
 * Records what a device reported through its shadow. Duplicated, reordered or unknown-device
 * reports are ignored by the store's version check, so the ingest path is idempotent.
 */
export const makeRecordDeviceReport =
  (ports: { fleetStore: FleetStore }) =>
  async (report: DeviceReport): Promise<RecordOutcome> =>
    (await ports.fleetStore.recordReport(report)) ? 'applied' : 'ignored';

/** Records a connect/disconnect; older events than the last applied one are ignored. */
export const makeRecordConnection =
  (ports: { fleetStore: FleetStore }) =>
  async (event: ConnectionEvent): Promise<RecordOutcome> =>
    (await ports.fleetStore.recordConnection(event)) ? 'applied' : 'ignored';
