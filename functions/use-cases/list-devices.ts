import type { DevicePage, FleetStore, ListDevicesQuery } from '../ports/fleet-store';

/**
 * `GET /devices`: the store picks the read for the filters (an index when one fits) and reads a
 * bounded amount, so a page may be short; its cursor is tied to that read.
 */
export const makeListDevices =
  (ports: { fleetStore: FleetStore }) =>
  (query: ListDevicesQuery): Promise<DevicePage> =>
    ports.fleetStore.listDevices(query);
