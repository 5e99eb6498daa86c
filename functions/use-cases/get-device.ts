import type { Device } from '../domain/device';
import { DeviceNotFoundError } from '../domain/errors';
import type { FleetStore } from '../ports/fleet-store';

export const makeGetDevice =
  (ports: { fleetStore: FleetStore }) =>
  async (deviceId: string): Promise<Device> => {
    const device = await ports.fleetStore.getDevice(deviceId);
    if (device?.status !== 'registered') throw new DeviceNotFoundError(deviceId);
    return device;
  };
