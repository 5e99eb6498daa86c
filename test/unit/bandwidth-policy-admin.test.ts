import { beforeEach, describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { InMemoryDeviceShadow } from '../../functions/adapters/in-memory-device-shadow';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { newDevice } from '../../functions/domain/device';
import { DeviceNotFoundError, ValidationError } from '../../functions/domain/errors';
import { parseJsonBody } from '../../functions/shared/parse';
import { makeSetDeviceBandwidthPolicy } from '../../functions/use-cases/set-device-bandwidth-policy';
import { makeSetSiteBandwidthPolicy } from '../../functions/use-cases/set-site-bandwidth-policy';

const DEVICE_POLICY = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'Europe/Berlin' });
const SITE_POLICY = BandwidthPolicy.parse({
  onMetered: 'delta-only',
  maxBytesPerUpdate: 100_000_000,
  windows: [{ start: '22:00', end: '06:00' }],
  timeZone: 'America/New_York',
});

let fleetStore: InMemoryFleetStore;
let shadow: InMemoryDeviceShadow;
let setDevice: ReturnType<typeof makeSetDeviceBandwidthPolicy>;
let setSite: ReturnType<typeof makeSetSiteBandwidthPolicy>;

async function register(deviceId: string, site: string) {
  await fleetStore.createDevice(
    newDevice({ deviceId, hardwareType: 'rpi4', site, region: 'eu' }, new Date('2026-11-01T00:00:00Z')),
  );
  await fleetStore.completeRegistration(deviceId, `cert-${deviceId}`);
}

beforeEach(() => {
  fleetStore = new InMemoryFleetStore();
  shadow = new InMemoryDeviceShadow();
  const ports = { fleetStore, policies: fleetStore, shadow };
  setDevice = makeSetDeviceBandwidthPolicy(ports);
  setSite = makeSetSiteBandwidthPolicy(ports);
});

describe('setDeviceBandwidthPolicy', () => {
  it("stores the device's own policy and puts it into its shadow", async () => {
    await register('gw-1', 'plant-a');
    await setSite('plant-a', SITE_POLICY);

    const result = await setDevice('gw-1', DEVICE_POLICY);

    expect(result).toEqual({
      deviceId: 'gw-1',
      policy: DEVICE_POLICY,
      effective: { policy: DEVICE_POLICY, source: 'device' },
    });
    expect((await fleetStore.getDevice('gw-1'))?.bandwidthPolicy).toEqual(DEVICE_POLICY);
    expect(shadow.desired('gw-1')).toEqual(DEVICE_POLICY);
  });

  it("falls back to the site's policy when the device's own is removed, or to none", async () => {
    await register('gw-1', 'plant-a');
    await register('gw-2', 'plant-b');
    await setDevice('gw-1', DEVICE_POLICY);
    await setDevice('gw-2', DEVICE_POLICY);
    await setSite('plant-a', SITE_POLICY);

    expect((await setDevice('gw-1', undefined)).effective).toEqual({ policy: SITE_POLICY, source: 'site' });
    expect(shadow.desired('gw-1')).toEqual(SITE_POLICY);
    expect((await fleetStore.getDevice('gw-1'))?.bandwidthPolicy).toBeUndefined();

    expect((await setDevice('gw-2', undefined)).effective).toEqual({ policy: undefined, source: 'none' });
    expect(shadow.writes.at(-1)).toEqual({ deviceId: 'gw-2', policy: undefined });
  });

  it('refuses an unknown or unfinished device, writing nothing', async () => {
    await fleetStore.createDevice(
      newDevice({ deviceId: 'gw-half', hardwareType: 'rpi4', site: 'plant-a', region: 'eu' }, new Date()),
    );

    await expect(setDevice('gw-none', DEVICE_POLICY)).rejects.toBeInstanceOf(DeviceNotFoundError);
    await expect(setDevice('gw-half', DEVICE_POLICY)).rejects.toBeInstanceOf(DeviceNotFoundError);
    expect(shadow.writes).toEqual([]);
    expect((await fleetStore.getDevice('gw-half'))?.bandwidthPolicy).toBeUndefined();
  });

  it('fails when the shadow cannot be written; the same request repeated completes it', async () => {
    await register('gw-1', 'plant-a');
    shadow.failing.add('gw-1');
    await expect(setDevice('gw-1', DEVICE_POLICY)).rejects.toThrow('shadow update of gw-1 failed');

    shadow.failing.clear();
    await setDevice('gw-1', DEVICE_POLICY);
    expect(shadow.desired('gw-1')).toEqual(DEVICE_POLICY);
  });
});

describe('setSiteBandwidthPolicy', () => {
  it("delivers the site's policy to each of its devices that has none of its own", async () => {
    await register('gw-1', 'plant-a');
    await register('gw-2', 'plant-a');
    await register('gw-3', 'plant-b');
    await setDevice('gw-2', DEVICE_POLICY);
    shadow.writes.length = 0;

    const result = await setSite('plant-a', SITE_POLICY);

    expect(result).toEqual({
      site: 'plant-a',
      policy: SITE_POLICY,
      devicesUpdated: 1,
      devicesWithOwnPolicy: 1,
      devicesFailed: [],
    });
    expect(shadow.writes).toEqual([{ deviceId: 'gw-1', policy: SITE_POLICY }]);
    expect(await fleetStore.getSitePolicy('plant-a')).toEqual(SITE_POLICY);
    expect(await fleetStore.getSitePolicy('plant-b')).toBeUndefined();
  });

  it('clears the policy from the shadows of the devices that followed the site', async () => {
    await register('gw-1', 'plant-a');
    await setSite('plant-a', SITE_POLICY);

    const result = await setSite('plant-a', undefined);

    expect(result).toMatchObject({ policy: undefined, devicesUpdated: 1 });
    expect(shadow.desired('gw-1')).toBeUndefined();
    expect(await fleetStore.getSitePolicy('plant-a')).toBeUndefined();
  });

  it('pages through large sites and names the devices it could not reach', async () => {
    for (let i = 0; i < 250; i++) await register(`gw-${String(i).padStart(3, '0')}`, 'plant-a');
    shadow.failing.add('gw-007');
    shadow.failing.add('gw-201');

    const result = await setSite('plant-a', SITE_POLICY);

    expect(result).toMatchObject({ devicesUpdated: 248, devicesWithOwnPolicy: 0 });
    expect(result.devicesFailed).toEqual(['gw-007', 'gw-201']);
    expect(new Set(shadow.writes.map((w) => w.deviceId)).size).toBe(248);
  });

  it('stores a policy for a site with no devices yet', async () => {
    expect(await setSite('plant-new', SITE_POLICY)).toMatchObject({ devicesUpdated: 0 });
    expect(await fleetStore.getSitePolicy('plant-new')).toEqual(SITE_POLICY);
  });
});

describe('request body', () => {
  it('is refused with a 400-style ValidationError naming the bad field', () => {
    const body = JSON.stringify({
      onMetered: 'delta-only',
      timeZone: 'UTC',
      windows: [{ start: '7', end: '08:00' }],
    });

    expect(() => parseJsonBody(BandwidthPolicy, body)).toThrow(ValidationError);
    try {
      parseJsonBody(BandwidthPolicy, body);
    } catch (error) {
      expect((error as ValidationError).issues).toEqual([
        { field: 'windows.0.start', message: 'HH:MM, 00:00 to 23:59' },
      ]);
    }
  });
});
