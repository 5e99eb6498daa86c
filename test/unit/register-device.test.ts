import { describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { InMemoryDeviceIdentity } from '../../functions/adapters/in-memory-device-identity';
import { InMemoryDeviceShadow } from '../../functions/adapters/in-memory-device-shadow';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { DeviceAlreadyExistsError, ValidationError } from '../../functions/domain/errors';
import type { DeviceCredentials, DeviceIdentityProvider } from '../../functions/ports/device-identity';
import { makeRegisterDevice } from '../../functions/use-cases/register-device';

const profile = { deviceId: 'gw-001', hardwareType: 'rpi4', site: 'plant-a', region: 'eu' };
const clock = { now: () => new Date('2026-11-01T10:00:00.000Z') };

class FakeIdentity implements DeviceIdentityProvider {
  readonly provisioned = new Set<string>();
  constructor(private readonly failWith?: Error) {}
  async provision(p: { deviceId: string }): Promise<DeviceCredentials> {
    this.provisioned.add(p.deviceId);
    if (this.failWith) throw this.failWith;
    return {
      certificateId: `cert-${p.deviceId}`,
      certificateArn: `arn:cert/${p.deviceId}`,
      certificatePem: 'PEM',
      privateKey: 'KEY',
      publicKey: 'PUB',
    };
  }
  async deprovision(deviceId: string) {
    this.provisioned.delete(deviceId);
  }
  async connection() {
    return { mqtt: { host: 'iot.example', port: 8883 }, caCertificatePem: 'CA' };
  }
}

const ports = (
  fleetStore: InMemoryFleetStore,
  identity: DeviceIdentityProvider,
  shadow = new InMemoryDeviceShadow(),
) => ({
  fleetStore,
  identity,
  clock,
  policies: fleetStore,
  shadow,
});

describe('registerDevice', () => {
  it('stores a registered device with its certificate and returns the credentials once', async () => {
    const fleetStore = new InMemoryFleetStore();
    const register = makeRegisterDevice(ports(fleetStore, new FakeIdentity()));

    const result = await register(profile);

    expect(result.credentials.privateKey).toBe('KEY');
    expect(result.connection).toEqual({ mqtt: { host: 'iot.example', port: 8883 }, caCertificatePem: 'CA' });
    expect(await fleetStore.getDevice('gw-001')).toEqual({
      ...profile,
      status: 'registered',
      certificateId: 'cert-gw-001',
      registeredAt: '2026-11-01T10:00:00.000Z',
      connection: { state: 'unknown' },
    });
  });

  it('refuses a duplicate id before touching the identity provider', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new FakeIdentity();
    const register = makeRegisterDevice(ports(fleetStore, identity));
    await register(profile);
    identity.provisioned.clear();

    await expect(register({ ...profile, site: 'plant-b' })).rejects.toBeInstanceOf(DeviceAlreadyExistsError);
    expect(identity.provisioned.size).toBe(0);
    expect((await fleetStore.getDevice('gw-001'))?.site).toBe('plant-a');
  });

  it('removes the record and the identity when provisioning fails', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new FakeIdentity(new Error('IoT throttled'));
    const register = makeRegisterDevice(ports(fleetStore, identity));

    await expect(register(profile)).rejects.toThrow('IoT throttled');
    expect(await fleetStore.getDevice('gw-001')).toBeUndefined();
    expect(identity.provisioned.size).toBe(0);
  });

  it("puts its site's bandwidth policy into the new device's shadow", async () => {
    const fleetStore = new InMemoryFleetStore();
    const shadow = new InMemoryDeviceShadow();
    const policy = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'Europe/Berlin' });
    await fleetStore.setSitePolicy('plant-a', policy);
    const register = makeRegisterDevice(ports(fleetStore, new FakeIdentity(), shadow));

    await register(profile);
    await register({ ...profile, deviceId: 'gw-002', site: 'plant-b' });

    expect(shadow.writes).toEqual([{ deviceId: 'gw-001', policy }]);
  });

  it('removes the record and the identity when the site policy cannot reach the shadow', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new FakeIdentity();
    const shadow = new InMemoryDeviceShadow();
    shadow.failing.add('gw-001');
    await fleetStore.setSitePolicy('plant-a', BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' }));

    await expect(makeRegisterDevice(ports(fleetStore, identity, shadow))(profile)).rejects.toThrow(
      'shadow update of gw-001 failed',
    );
    expect(await fleetStore.getDevice('gw-001')).toBeUndefined();
    expect(identity.provisioned.size).toBe(0);
  });
});

describe('registerDevice with a CSR', () => {
  const csr = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';

  it('has the certificate signed from the CSR and returns no private key', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new InMemoryDeviceIdentity();
    const register = makeRegisterDevice(ports(fleetStore, identity));

    const result = await register({ ...profile, csr });

    expect(result.credentials.privateKey).toBeUndefined();
    expect(identity.certificates.get(result.credentials.certificateId)).toBe(csr);
    expect(identity.things.get('gw-001')).toEqual(profile);
    expect((await fleetStore.getDevice('gw-001'))?.certificateId).toBe(result.credentials.certificateId);
  });

  it('does not keep the CSR in the device record', async () => {
    const fleetStore = new InMemoryFleetStore();
    const register = makeRegisterDevice(ports(fleetStore, new InMemoryDeviceIdentity()));

    await register({ ...profile, csr });

    expect(await fleetStore.getDevice('gw-001')).not.toHaveProperty('csr');
  });

  it('still makes the key pair when no CSR is given', async () => {
    const identity = new InMemoryDeviceIdentity();
    const register = makeRegisterDevice(ports(new InMemoryFleetStore(), identity));

    const result = await register(profile);

    expect(result.credentials.privateKey).toMatch(/^KEY of /);
    expect(identity.certificates.get(result.credentials.certificateId)).toBeUndefined();
  });

  it('answers with where to connect and the CA to trust', async () => {
    const connection = { mqtt: { host: 'broker.local', port: 18883 }, caCertificatePem: 'LOCAL CA' };
    const register = makeRegisterDevice(
      ports(new InMemoryFleetStore(), new InMemoryDeviceIdentity(connection)),
    );

    expect((await register({ ...profile, csr })).connection).toEqual(connection);
  });

  it('refuses a CSR the certificate authority cannot sign with a ValidationError naming csr, leaving nothing behind', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new InMemoryDeviceIdentity();
    identity.acceptsCsr = () => false;
    const register = makeRegisterDevice(ports(fleetStore, identity));

    const failure = await register({ ...profile, csr }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ValidationError);
    expect((failure as ValidationError).issues.map((i) => i.field)).toEqual(['csr']);
    expect(await fleetStore.getDevice('gw-001')).toBeUndefined();
    expect(identity.things.size).toBe(0);
    expect(identity.certificates.size).toBe(0);
  });

  it('removes the certificate, the thing and the record when a later step fails', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new InMemoryDeviceIdentity();
    identity.failingAttachments.add('gw-001');
    const register = makeRegisterDevice(ports(fleetStore, identity));

    await expect(register({ ...profile, csr })).rejects.toThrow('attaching');
    expect(await fleetStore.getDevice('gw-001')).toBeUndefined();
    expect(identity.things.size).toBe(0);
    expect(identity.certificates.size).toBe(0);
  });

  it('removes the certificate, the thing and the record when the shadow write fails after a CSR registration', async () => {
    const fleetStore = new InMemoryFleetStore();
    const identity = new InMemoryDeviceIdentity();
    const shadow = new InMemoryDeviceShadow();
    shadow.failing.add('gw-001');
    await fleetStore.setSitePolicy('plant-a', BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' }));

    await expect(
      makeRegisterDevice(ports(fleetStore, identity, shadow))({ ...profile, csr }),
    ).rejects.toThrow('shadow update');
    expect(await fleetStore.getDevice('gw-001')).toBeUndefined();
    expect(identity.things.size).toBe(0);
    expect(identity.certificates.size).toBe(0);
  });
});
