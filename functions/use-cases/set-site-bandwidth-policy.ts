import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { Device } from '../domain/device';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';
import type { DeviceShadow } from '../ports/device-shadow';
import type { FleetStore } from '../ports/fleet-store';

export interface SiteBandwidthPolicyResult {
  readonly site: string;
  readonly policy: BandwidthPolicy | undefined;
  /** Devices of the site whose shadow now carries the site's policy (or none, after a DELETE). */
  readonly devicesUpdated: number;
  /** Devices of the site that keep their own policy and were left alone. */
  readonly devicesWithOwnPolicy: number;
  /** Devices whose shadow update failed: repeat the request to reach them (it is idempotent). */
  readonly devicesFailed: readonly string[];
}

/** Shadow updates in flight at once: fast enough for thousands of devices, gentle on IoT limits. */
const CONCURRENCY = 16;
const PAGE = 100;

/**
 * Sets (or with undefined, removes) a site's bandwidth policy, then delivers it to every
 * registered device of the site that has no policy of its own, through each one's shadow.
 *
 * One shadow update per device, within the API's time limit: meant for sites of up to a few
 * thousand devices. A device registered while this runs reads the site policy itself at
 * registration. A failed update does not stop the others; the answer names the devices missed.
 */
export const makeSetSiteBandwidthPolicy =
  (ports: {
    fleetStore: Pick<FleetStore, 'listDevices'>;
    policies: BandwidthPolicyStore;
    shadow: DeviceShadow;
  }) =>
  async (site: string, policy: BandwidthPolicy | undefined): Promise<SiteBandwidthPolicyResult> => {
    await ports.policies.setSitePolicy(site, policy);
    let devicesUpdated = 0;
    let devicesWithOwnPolicy = 0;
    const devicesFailed: string[] = [];
    const deliver = async (device: Device) => {
      try {
        await ports.shadow.setDesiredBandwidthPolicy(device.deviceId, policy);
        devicesUpdated++;
      } catch {
        devicesFailed.push(device.deviceId);
      }
    };
    let cursor: string | undefined;
    do {
      const page = await ports.fleetStore.listDevices({ site, limit: PAGE, ...(cursor ? { cursor } : {}) });
      const following = page.items.filter((device) => !device.bandwidthPolicy);
      devicesWithOwnPolicy += page.items.length - following.length;
      for (let i = 0; i < following.length; i += CONCURRENCY)
        await Promise.all(following.slice(i, i + CONCURRENCY).map(deliver));
      cursor = page.nextCursor;
    } while (cursor);
    return { site, policy, devicesUpdated, devicesWithOwnPolicy, devicesFailed: devicesFailed.sort() };
  };
