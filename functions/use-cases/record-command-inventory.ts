import type { DeviceInventoryV1 } from '../../contract/device-commands';
import type { DeviceInventoryStore } from '../ports/device-inventory-store';

/**
 * Stores a device's inventory report on its item. The topic names the device (its IoT policy lets
 * it publish only there); a report older than the stored one writes nothing.
 */
export const makeRecordCommandInventory =
  (ports: { readonly inventory: DeviceInventoryStore }) =>
  async (deviceId: string, inventory: DeviceInventoryV1): Promise<'applied' | 'ignored'> =>
    (await ports.inventory.record(deviceId, inventory)) ? 'applied' : 'ignored';
