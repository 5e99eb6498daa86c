import type { BandwidthPolicy } from '../../contract/bandwidth-policy';

/**
 * Where operators' bandwidth policies are kept: a device's own policy on its record (read back
 * through `FleetStore.getDevice` / `listDevices` as `Device.bandwidthPolicy`), a site's as an
 * item of its own.
 */
export interface BandwidthPolicyStore {
  /**
   * Sets a registered device's own policy, or removes it (undefined). Returns false, writing
   * nothing, when there is no registered device with that id.
   */
  setDevicePolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<boolean>;
  getSitePolicy(site: string): Promise<BandwidthPolicy | undefined>;
  /** Sets a site's policy, or removes it (undefined). A site needs no record of its own first. */
  setSitePolicy(site: string, policy: BandwidthPolicy | undefined): Promise<void>;
}
