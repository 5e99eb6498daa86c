import type { DevicePage, FleetStore, ListDevicesQuery } from '../ports/fleet-store';

export const makeListDevices =
  (ports: { fleetStore: FleetStore }) =>
  (query: ListDevicesQuery): Promise<DevicePage> =>
    ports.fleetStore.listDevices(query);
