import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { ConnectionEvent, Device, DeviceReport } from '../domain/device';
import { matchesDeviceFilter } from '../domain/device-filter';
import { DeviceAlreadyExistsError, DeviceNotFoundError } from '../domain/errors';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';
import type { DevicePage, FleetStore, ListDevicesQuery } from '../ports/fleet-store';
import { decodeCursor, encodeCursor } from './page-cursor';

/**
 * FleetStore (and the bandwidth policies kept next to devices) for unit tests and the simulator's
 * offline mode; same semantics as DynamoDbFleetStore and DynamoDbBandwidthPolicyStore.
 */
export class InMemoryFleetStore implements FleetStore, BandwidthPolicyStore {
  readonly #devices = new Map<string, Device>();
  readonly #sitePolicies = new Map<string, BandwidthPolicy>();

  async createDevice(device: Device): Promise<void> {
    if (this.#devices.has(device.deviceId)) throw new DeviceAlreadyExistsError(device.deviceId);
    this.#devices.set(device.deviceId, device);
  }

  async completeRegistration(deviceId: string, certificateId: string): Promise<Device> {
    const device = this.#devices.get(deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    const registered: Device = { ...device, status: 'registered', certificateId };
    this.#devices.set(deviceId, registered);
    return registered;
  }

  async deleteDevice(deviceId: string): Promise<void> {
    this.#devices.delete(deviceId);
  }

  async getDevice(deviceId: string): Promise<Device | undefined> {
    return this.#devices.get(deviceId);
  }

  async listDevices(query: ListDevicesQuery): Promise<DevicePage> {
    const after =
      query.cursor === undefined
        ? undefined
        : decodeCursor<{ after: string }>(query.cursor, (key) => typeof key.after === 'string').after;
    const { cursor: _cursor, limit: _limit, ...filter } = query;
    const matching = [...this.#devices.values()]
      .filter((d) => matchesDeviceFilter(d, filter))
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .filter((d) => after === undefined || d.deviceId > after);
    const items = matching.slice(0, query.limit);
    const last = items.at(-1);
    return matching.length > query.limit && last
      ? { items, nextCursor: encodeCursor({ after: last.deviceId }) }
      : { items };
  }

  async recordReport(report: DeviceReport): Promise<boolean> {
    const device = this.#devices.get(report.deviceId);
    if (device?.status !== 'registered') return false;
    if ((device.reportedShadowVersion ?? -1) >= report.shadowVersion) return false;
    this.#devices.set(report.deviceId, {
      ...device,
      firmwareVersion: report.firmwareVersion,
      reportedShadowVersion: report.shadowVersion,
      lastReportAt: report.reportedAt.toISOString(),
    });
    return true;
  }

  async recordConnection(event: ConnectionEvent): Promise<boolean> {
    const device = this.#devices.get(event.deviceId);
    const at = event.at.toISOString();
    if (device?.status !== 'registered') return false;
    if (device.connection.changedAt !== undefined && device.connection.changedAt >= at) return false;
    this.#devices.set(event.deviceId, { ...device, connection: { state: event.state, changedAt: at } });
    return true;
  }

  async setDevicePolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<boolean> {
    const device = this.#devices.get(deviceId);
    if (device?.status !== 'registered') return false;
    const { bandwidthPolicy: _old, ...rest } = device;
    this.#devices.set(deviceId, policy ? { ...rest, bandwidthPolicy: policy } : rest);
    return true;
  }

  async getSitePolicy(site: string): Promise<BandwidthPolicy | undefined> {
    return this.#sitePolicies.get(site);
  }

  async setSitePolicy(site: string, policy: BandwidthPolicy | undefined): Promise<void> {
    if (policy) this.#sitePolicies.set(site, policy);
    else this.#sitePolicies.delete(site);
  }
}
