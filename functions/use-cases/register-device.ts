import { type Device, type DeviceProfile, newDevice } from '../domain/device';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';
import type { Clock } from '../ports/clock';
import type { DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';
import type { DeviceShadow } from '../ports/device-shadow';
import type { FleetStore } from '../ports/fleet-store';

export interface RegisteredDevice {
  readonly device: Device;
  readonly credentials: DeviceCredentials;
  readonly mqttEndpoint: string;
}

/**
 * Registers a device:
 * 1. claims the id in the fleet store (a duplicate fails here, before anything else is written);
 * 2. provisions the thing, its certificate and policy attachment;
 * 3. marks the record registered;
 * 4. if its site has a bandwidth policy, puts it into the device's shadow, so the device finds
 *    it on its first connect.
 * If step 2, 3 or 4 fails, both the identity and the record are removed again.
 */
export const makeRegisterDevice =
  (ports: {
    fleetStore: FleetStore;
    identity: DeviceIdentityProvider;
    clock: Clock;
    policies: Pick<BandwidthPolicyStore, 'getSitePolicy'>;
    shadow: DeviceShadow;
  }) =>
  async (profile: DeviceProfile): Promise<RegisteredDevice> => {
    const { fleetStore, identity, clock, policies, shadow } = ports;
    await fleetStore.createDevice(newDevice(profile, clock.now()));
    let credentials: DeviceCredentials | undefined;
    try {
      credentials = await identity.provision(profile);
      const device = await fleetStore.completeRegistration(profile.deviceId, credentials.certificateId);
      const sitePolicy = await policies.getSitePolicy(profile.site);
      if (sitePolicy) await shadow.setDesiredBandwidthPolicy(profile.deviceId, sitePolicy);
      return { device, credentials, mqttEndpoint: await identity.endpoint() };
    } catch (error) {
      await identity.deprovision(profile.deviceId, credentials);
      await fleetStore.deleteDevice(profile.deviceId);
      throw error;
    }
  };
