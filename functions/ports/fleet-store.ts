import type { ConnectionEvent, Device, DeviceReport } from '../domain/device';
import type { DeviceFilter } from '../domain/device-filter';

export interface DevicePage {
  readonly items: readonly Device[];
  /** Opaque; pass back as `cursor` to get the next page. Absent on the last page. */
  readonly nextCursor?: string;
}

/**
 * One page of `GET /devices`. A store reads a bounded amount per call, so a page may hold fewer
 * than `limit` devices (even none) and still carry a `nextCursor`: follow it until it is absent.
 */
export interface ListDevicesQuery extends DeviceFilter {
  readonly limit: number;
  readonly cursor?: string;
}

/** Where the fleet's device records live. */
export interface FleetStore {
  /** Creates the record; throws DeviceAlreadyExistsError when the id is taken. */
  createDevice(device: Device): Promise<void>;
  /** Marks a provisioning record registered with its certificate. */
  completeRegistration(deviceId: string, certificateId: string): Promise<Device>;
  deleteDevice(deviceId: string): Promise<void>;
  getDevice(deviceId: string): Promise<Device | undefined>;
  /** Throws ValidationError for a cursor it did not issue (or issued for another index). */
  listDevices(query: ListDevicesQuery): Promise<DevicePage>;
  /**
   * Applies a report only when it is newer (by shadow version) than the last one applied.
   * Returns false when the report was stale or the device is unknown; nothing is written then.
   */
  recordReport(report: DeviceReport): Promise<boolean>;
  /** Applies a connection change only when it is newer than the last one applied. */
  recordConnection(event: ConnectionEvent): Promise<boolean>;
}
