import type { DeviceInventoryV1 } from '../../contract/device-commands';

/** The inventory on the device item. */
export interface DeviceInventoryStore {
  /**
   * Stores the inventory if it is newer (`reportedAt`) than the stored one and the device is
   * registered; false when nothing was written.
   */
  record(deviceId: string, inventory: DeviceInventoryV1): Promise<boolean>;
}
