import type { ConfigValues } from '../../contract/device-config';
import type { ConfigLayer, ConfigReportState } from '../domain/device-config';

/** A layer shared by many devices. */
export type SharedConfigScope =
  | { readonly layer: 'fleet' }
  | { readonly layer: 'site'; readonly site: string };

/** What the configuration flow keeps about one registered device. */
export interface DeviceConfigRecord {
  readonly deviceId: string;
  readonly site: string;
  /** The device's own layer; its version grows with every write (0 when never written). */
  readonly layer: ConfigLayer;
  /** The revision last computed for the device (what it should apply). */
  readonly desiredRevision?: string;
  /** The revision last written into its `config` shadow. */
  readonly deliveredRevision?: string;
  /** Why the last delivery was refused (e.g. the merged result does not fit a shadow). */
  readonly deliveryError?: string;
  readonly report?: ConfigReportState;
}

export interface DeviceConfigPage<T> {
  readonly items: readonly T[];
  /** Opaque; absent on the last page. */
  readonly nextCursor?: string;
}

/** A device of a site whose configuration drifts, as the sparse drift index holds it. */
export interface DriftingDevice {
  readonly deviceId: string;
  readonly desiredRevision?: string;
  readonly reportedRevision?: string;
  readonly rejected?: Readonly<Record<string, string>>;
  readonly deliveryError?: string;
}

/** Where configuration layers and each device's configuration state live. */
export interface DeviceConfigStore {
  /** The fleet's or a site's layer (version 0 and no values when never written). */
  getSharedLayer(scope: SharedConfigScope): Promise<ConfigLayer>;
  /** Replaces the layer's values (all of them; `{}` clears it) and bumps its version. */
  putSharedLayer(scope: SharedConfigScope, values: ConfigValues): Promise<ConfigLayer>;
  /** A registered device's record; undefined when there is no registered device with that id. */
  getDevice(deviceId: string): Promise<DeviceConfigRecord | undefined>;
  /**
   * Replaces a registered device's own layer (`{}` clears it) and bumps its version. Returns
   * undefined, writing nothing, when there is no registered device with that id.
   */
  putDeviceLayer(deviceId: string, values: ConfigValues): Promise<ConfigLayer | undefined>;
  /** One page of the registered devices of the fleet (no site) or of one site. */
  listDevices(
    site: string | undefined,
    limit: number,
    cursor?: string,
  ): Promise<DeviceConfigPage<DeviceConfigRecord>>;
  /**
   * Records the revision the device should now apply, and whether it drifts, only if its own
   * layer is still at `layerVersion` (else false: the caller computed from a stale layer).
   */
  setDesired(
    deviceId: string,
    desired: { readonly revision: string; readonly layerVersion: number; readonly drifting: boolean },
  ): Promise<boolean>;
  /**
   * Records the revision now in the device's shadow (or why it could not be written), only if the
   * device's layer is still at `layerVersion` and `revision` is still the desired one.
   */
  markDelivered(
    deviceId: string,
    delivered: { readonly revision: string; readonly layerVersion: number; readonly error?: string },
  ): Promise<boolean>;
  /**
   * Stores a report if it is newer (by `seq`) than the stored one and settles the drift flag
   * against the desired revision. Returns false (writing nothing) for a stale report or an
   * unknown device.
   */
  recordReport(deviceId: string, report: ConfigReportState): Promise<boolean>;
  /** One page of a site's drifting devices, from the sparse drift index. */
  listDrifting(site: string, limit: number, cursor?: string): Promise<DeviceConfigPage<DriftingDevice>>;
}
