import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { ConfigLayerName } from '../domain/device-config';
import { DeviceNotFoundError } from '../domain/errors';
import type { ConfigFanOutQueue } from '../ports/config-fan-out-queue';
import type { DeviceConfigStore } from '../ports/device-config-store';
import type { DeliveryPorts } from './deliver-device-config';
import { makeSetDeviceConfigLayer, makeSetSharedConfigLayer } from './set-config-layer';

/**
 * The bandwidth policy routes from before layered configuration, kept as aliases: each sets or
 * removes only the `bandwidthPolicy` key of a device's or a site's layer and keeps its other keys.
 */
export const makeSetDeviceBandwidthPolicyKey = (ports: DeliveryPorts) => {
  const setLayer = makeSetDeviceConfigLayer(ports);
  return async (deviceId: string, policy: BandwidthPolicy | undefined) => {
    const device = await ports.store.getDevice(deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    const { bandwidthPolicy: _old, ...others } = device.layer.values;
    const result = await setLayer(deviceId, policy ? { ...others, bandwidthPolicy: policy } : others);
    return {
      deviceId,
      policy,
      effective: {
        source: (result.merged.sources.bandwidthPolicy ?? 'none') as ConfigLayerName | 'none',
        policy: result.merged.values.bandwidthPolicy,
      },
      revision: result.merged.revision,
    };
  };
};

/** As makeSetDeviceBandwidthPolicyKey, for a site's layer: delivered by the fan-out. */
export const makeSetSiteBandwidthPolicyKey = (ports: {
  store: DeviceConfigStore;
  queue: ConfigFanOutQueue;
}) => {
  const setLayer = makeSetSharedConfigLayer(ports);
  return async (site: string, policy: BandwidthPolicy | undefined) => {
    const { bandwidthPolicy: _old, ...others } = (await ports.store.getSharedLayer({ layer: 'site', site }))
      .values;
    return setLayer({ layer: 'site', site }, policy ? { ...others, bandwidthPolicy: policy } : others);
  };
};
