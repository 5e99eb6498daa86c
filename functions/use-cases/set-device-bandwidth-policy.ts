import { type BandwidthPolicy, effectiveBandwidthPolicy } from '../../contract/bandwidth-policy';
import { DeviceNotFoundError } from '../domain/errors';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';
import type { DeviceShadow } from '../ports/device-shadow';
import type { FleetStore } from '../ports/fleet-store';

export interface DeviceBandwidthPolicyResult {
  readonly deviceId: string;
  /** The device's own policy after the change (none after a DELETE). */
  readonly policy: BandwidthPolicy | undefined;
  /** What the device now follows, and where it comes from. */
  readonly effective: ReturnType<typeof effectiveBandwidthPolicy>;
}

/**
 * Sets (or with undefined, removes) a device's own bandwidth policy, then puts the policy the
 * device now follows (its own, else its site's) into its shadow's desired state.
 *
 * The record is written first: if the shadow update then fails, the call fails and the same
 * request, repeated, completes it (both writes are idempotent).
 */
export const makeSetDeviceBandwidthPolicy =
  (ports: {
    fleetStore: Pick<FleetStore, 'getDevice'>;
    policies: BandwidthPolicyStore;
    shadow: DeviceShadow;
  }) =>
  async (deviceId: string, policy: BandwidthPolicy | undefined): Promise<DeviceBandwidthPolicyResult> => {
    const device = await ports.fleetStore.getDevice(deviceId);
    if (device?.status !== 'registered') throw new DeviceNotFoundError(deviceId);
    if (!(await ports.policies.setDevicePolicy(deviceId, policy))) throw new DeviceNotFoundError(deviceId);
    const effective = effectiveBandwidthPolicy(
      policy,
      policy ? undefined : await ports.policies.getSitePolicy(device.site),
    );
    await ports.shadow.setDesiredBandwidthPolicy(deviceId, effective.policy);
    return { deviceId, policy, effective };
  };
