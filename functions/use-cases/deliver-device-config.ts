import { desiredConfigState, shadowLimitIssues } from '../../contract/device-config';
import { type ConfigLayer, driftsByRevision, layerStamp, mergeConfig } from '../domain/device-config';
import { DeviceNotFoundError } from '../domain/errors';
import type { ConfigShadow } from '../ports/config-shadow';
import type { DeviceConfigRecord, DeviceConfigStore } from '../ports/device-config-store';

export type DeliveryOutcome = 'delivered' | 'unchanged' | 'refused' | 'superseded';

export interface DeliveryPorts {
  readonly store: DeviceConfigStore;
  readonly shadow: ConfigShadow;
}

/** Times one device's delivery is computed again when its own layer changed under it. */
const ATTEMPTS = 3;

/**
 * Brings one device's `config` shadow to the merge of `fleet`, `site` and its own layer.
 *
 * 1. Merge; if that revision is already desired and delivered, stop (`unchanged`).
 * 2. If the desired state would not fit a shadow (8 KB, 6 levels), record why and stop
 *    (`refused`): the device keeps its last configuration and shows as drifting.
 * 3. Record the revision as desired (and the device as drifting unless it already reported it),
 *    on condition that its own layer is the one merged; else read the device again and repeat.
 * 4. Write the shadow, then record it delivered under the same condition; a device layer that
 *    changed in between means a newer delivery may have been overwritten: repeat.
 *
 * Changes of the fleet or site layer meanwhile are the caller's to catch (it compares layer
 * versions after its writes): see makeDeliverDeviceConfig and the fan-out page.
 */
export async function deliverToDevice(
  ports: DeliveryPorts,
  initial: DeviceConfigRecord,
  shared: { readonly fleet: ConfigLayer; readonly site: ConfigLayer },
): Promise<DeliveryOutcome> {
  let device: DeviceConfigRecord | undefined = initial;
  for (let attempt = 0; attempt < ATTEMPTS && device; attempt++) {
    const merged = mergeConfig({ ...shared, device: device.layer });
    if (device.desiredRevision === merged.revision && device.deliveredRevision === merged.revision)
      return 'unchanged';
    const desired = desiredConfigState(merged.values);
    const layerVersion = device.layer.version;
    const drifting = driftsByRevision(merged.revision, device.report);
    if (
      !(await ports.store.setDesired(device.deviceId, { revision: merged.revision, layerVersion, drifting }))
    ) {
      device = await ports.store.getDevice(device.deviceId);
      continue;
    }
    const limits = shadowLimitIssues(desired);
    if (limits.length > 0) {
      await ports.store.markDelivered(device.deviceId, {
        revision: merged.revision,
        layerVersion,
        error: limits.map((i) => i.message).join('; '),
      });
      return 'refused';
    }
    await ports.shadow.writeDesired(device.deviceId, desired);
    if (await ports.store.markDelivered(device.deviceId, { revision: merged.revision, layerVersion }))
      return 'delivered';
    device = await ports.store.getDevice(device.deviceId);
  }
  return 'superseded';
}

/**
 * Delivers a single device's merged configuration (after a write of its own layer, and at
 * registration), then checks that the fleet and site layers it merged are still the newest; if
 * one changed while it wrote, it delivers again with the new one. So its write can never land
 * after, and undo, the write of a fan-out that started later.
 */
export const makeDeliverDeviceConfig =
  (ports: DeliveryPorts) =>
  async (deviceId: string): Promise<{ readonly outcome: DeliveryOutcome }> => {
    let outcome: DeliveryOutcome = 'superseded';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const device = await ports.store.getDevice(deviceId);
      if (!device) throw new DeviceNotFoundError(deviceId);
      const shared = await readShared(ports.store, device.site);
      outcome = await deliverToDevice(ports, device, shared);
      const after = await readShared(ports.store, device.site);
      if (layerStamp(after) === layerStamp(shared)) break;
    }
    return { outcome };
  };

export async function readShared(store: DeviceConfigStore, site: string) {
  const [fleet, siteLayer] = await Promise.all([
    store.getSharedLayer({ layer: 'fleet' }),
    store.getSharedLayer({ layer: 'site', site }),
  ]);
  return { fleet, site: siteLayer };
}
