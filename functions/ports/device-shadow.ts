import type { BandwidthPolicy } from '../../contract/bandwidth-policy';

/** What the backend tells a device through its classic shadow's `desired` state. */
export interface DeviceShadow {
  /**
   * Sets `state.desired.edgeops.bandwidthPolicy` to the device's effective policy, or removes it
   * (undefined). Idempotent: setting the same policy twice leaves the device where it was.
   */
  setDesiredBandwidthPolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<void>;
}
