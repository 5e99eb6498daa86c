import { type Device, type DeviceProfile, newDevice } from '../domain/device';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';
import type { Clock } from '../ports/clock';
import type { DeviceConnection, DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';
import type { DeviceShadow } from '../ports/device-shadow';
import type { FleetStore } from '../ports/fleet-store';

export interface RegisterDeviceInput extends DeviceProfile {
  /** PEM PKCS#10 made on the device; without it the identity provider makes the key pair. */
  readonly csr?: string;
}

export interface RegisteredDevice {
  readonly device: Device;
  readonly credentials: DeviceCredentials;
  /** What the device needs to connect: MQTT host and port, and the CA to trust. */
  readonly connection: DeviceConnection;
}

/**
 * Registers a device:
 * 1. claims the id in the fleet store (a duplicate fails here, before anything else is written);
 * 2. provisions the thing, its certificate (from the device's CSR when it sent one) and policy
 *    attachment;
 * 3. marks the record registered;
 * 4. if its site has a bandwidth policy, puts it into the device's shadow, so the device finds
 *    it on its first connect;
 * 5. looks up where devices connect.
 * If any step after 1 fails (a CSR the certificate authority refuses among them), both the
 * identity and the record are removed again.
 */
export const makeRegisterDevice =
  (ports: {
    fleetStore: FleetStore;
    identity: DeviceIdentityProvider;
    clock: Clock;
    policies: Pick<BandwidthPolicyStore, 'getSitePolicy'>;
    shadow: DeviceShadow;
  }) =>
  async ({ csr, ...input }: RegisterDeviceInput): Promise<RegisteredDevice> => {
    const { fleetStore, identity, clock, policies, shadow } = ports;
    const { deviceId, hardwareType, site, region } = input;
    const profile: DeviceProfile = { deviceId, hardwareType, site, region };
    await fleetStore.createDevice(newDevice(profile, clock.now()));
    let credentials: DeviceCredentials | undefined;
    try {
      credentials = await identity.provision(profile, csr);
      const device = await fleetStore.completeRegistration(deviceId, credentials.certificateId);
      const sitePolicy = await policies.getSitePolicy(site);
      if (sitePolicy) await shadow.setDesiredBandwidthPolicy(deviceId, sitePolicy);
      return { device, credentials, connection: await identity.connection() };
    } catch (error) {
      await identity.deprovision(deviceId, credentials);
      await fleetStore.deleteDevice(deviceId);
      throw error;
    }
  };
