import type { ConfigValues } from '../../contract/device-config';
import {
  assertFitsShadow,
  type ConfigLayer,
  type ConfigScope,
  type MergedConfig,
  mergeConfig,
} from '../domain/device-config';
import { DeviceNotFoundError } from '../domain/errors';
import type { ConfigFanOutQueue } from '../ports/config-fan-out-queue';
import type { DeviceConfigStore } from '../ports/device-config-store';
import {
  type DeliveryOutcome,
  type DeliveryPorts,
  makeDeliverDeviceConfig,
  readShared,
} from './deliver-device-config';

export interface SharedLayerResult {
  readonly layer: ConfigLayer;
  /**
   * The merge of the fleet layer and this one (for a site: what its devices get where they set
   * nothing themselves) and its revision. Each device's own revision may differ.
   */
  readonly merged: MergedConfig;
}

/**
 * Sets (replaces) the fleet's or a site's layer, then hands delivery to the fan-out:
 * 1. checks that the layer, and its merge with the fleet layer, fit a shadow (8 KB, 6 levels);
 *    a merge with a device's own layer that would not is refused per device by the worker and
 *    shown on the device as a delivery error;
 * 2. writes the layer (its version grows);
 * 3. enqueues the first page of the fan-out; the answer does not wait for the devices.
 * `values` `{}` clears the layer (DELETE).
 */
export const makeSetSharedConfigLayer =
  (ports: { store: DeviceConfigStore; queue: ConfigFanOutQueue }) =>
  async (
    scope: Exclude<ConfigScope, { layer: 'device' }>,
    values: ConfigValues,
  ): Promise<SharedLayerResult> => {
    const what = scope.layer === 'fleet' ? 'the fleet layer' : `the layer of site ${scope.site}`;
    assertFitsShadow(values, what);
    const fleet = scope.layer === 'fleet' ? undefined : await ports.store.getSharedLayer({ layer: 'fleet' });
    const mergedBefore = mergeConfig(
      fleet ? { fleet, site: { values, version: 0 } } : { fleet: { values, version: 0 } },
    );
    assertFitsShadow(mergedBefore.values, `${what} merged with the fleet layer`);
    const layer = await ports.store.putSharedLayer(scope, values);
    await ports.queue.enqueue({ scope });
    return { layer, merged: mergeConfig(fleet ? { fleet, site: layer } : { fleet: layer }) };
  };

export interface DeviceLayerResult {
  readonly deviceId: string;
  readonly layer: ConfigLayer;
  readonly merged: MergedConfig;
  readonly delivery: DeliveryOutcome;
}

/**
 * Sets (replaces) a registered device's own layer and delivers its merged configuration at once:
 * 1. checks the merge of the fleet, site and new device layer fits a shadow;
 * 2. writes the layer; 3. delivers (makeDeliverDeviceConfig). `{}` clears the layer.
 */
export const makeSetDeviceConfigLayer =
  (ports: DeliveryPorts) =>
  async (deviceId: string, values: ConfigValues): Promise<DeviceLayerResult> => {
    const device = await ports.store.getDevice(deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    const shared = await readShared(ports.store, device.site);
    assertFitsShadow(
      mergeConfig({ ...shared, device: { values, version: 0 } }).values,
      `the configuration of device ${deviceId}`,
    );
    const layer = await ports.store.putDeviceLayer(deviceId, values);
    if (!layer) throw new DeviceNotFoundError(deviceId);
    const { outcome } = await makeDeliverDeviceConfig(ports)(deviceId);
    const after = await readShared(ports.store, device.site);
    return { deviceId, layer, merged: mergeConfig({ ...after, device: layer }), delivery: outcome };
  };
