import {
  type ConfigDrift,
  type ConfigLayer,
  type ConfigReportState,
  configDrift,
  type MergedConfig,
  mergeConfig,
} from '../domain/device-config';
import { DeviceNotFoundError } from '../domain/errors';
import type { DeviceConfigPage, DeviceConfigStore, DriftingDevice } from '../ports/device-config-store';
import { readShared } from './deliver-device-config';

export interface DeviceConfigView {
  readonly deviceId: string;
  readonly site: string;
  readonly layers: { readonly fleet: ConfigLayer; readonly site: ConfigLayer; readonly device: ConfigLayer };
  readonly desired: MergedConfig;
  readonly delivery: {
    readonly desiredRevision?: string;
    readonly deliveredRevision?: string;
    readonly error?: string;
  };
  readonly reported?: ConfigReportState;
  readonly drift: ConfigDrift;
}

/** A device's configuration: its three layers, their merge, what it reported, and the drift. */
export const makeGetDeviceConfig =
  (ports: { store: DeviceConfigStore }) =>
  async (deviceId: string): Promise<DeviceConfigView> => {
    const device = await ports.store.getDevice(deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    const shared = await readShared(ports.store, device.site);
    const desired = mergeConfig({ ...shared, device: device.layer });
    return {
      deviceId,
      site: device.site,
      layers: { ...shared, device: device.layer },
      desired,
      delivery: {
        ...(device.desiredRevision ? { desiredRevision: device.desiredRevision } : {}),
        ...(device.deliveredRevision ? { deliveredRevision: device.deliveredRevision } : {}),
        ...(device.deliveryError ? { error: device.deliveryError } : {}),
      },
      ...(device.report ? { reported: device.report } : {}),
      drift: configDrift(desired, device.report),
    };
  };

/** One page of a site's drifting devices; the read is one Query of the sparse drift index. */
export const makeListSiteConfigDrift =
  (ports: { store: DeviceConfigStore }) =>
  (site: string, limit: number, cursor?: string): Promise<DeviceConfigPage<DriftingDevice>> =>
    ports.store.listDrifting(site, limit, cursor);
