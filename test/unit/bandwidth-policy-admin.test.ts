import { beforeEach, describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { desiredConfigState } from '../../contract/device-config';
import {
  InMemoryConfigFanOutQueue,
  InMemoryConfigShadow,
  InMemoryDeviceConfigStore,
} from '../../functions/adapters/in-memory-device-config';
import { DeviceNotFoundError, ValidationError } from '../../functions/domain/errors';
import { parseJsonBody } from '../../functions/shared/parse';
import {
  makeSetDeviceBandwidthPolicyKey,
  makeSetSiteBandwidthPolicyKey,
} from '../../functions/use-cases/bandwidth-policy-config';
import { makeRunConfigFanOutPage } from '../../functions/use-cases/run-config-fan-out-page';
import { makeSetDeviceConfigLayer } from '../../functions/use-cases/set-config-layer';

const DEVICE_POLICY = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'Europe/Berlin' });
const SITE_POLICY = BandwidthPolicy.parse({
  onMetered: 'delta-only',
  maxBytesPerUpdate: 100_000_000,
  windows: [{ start: '22:00', end: '06:00' }],
  timeZone: 'America/New_York',
});

let store: InMemoryDeviceConfigStore;
let shadow: InMemoryConfigShadow;
let queue: InMemoryConfigFanOutQueue;
let setDevice: ReturnType<typeof makeSetDeviceBandwidthPolicyKey>;
let setSite: ReturnType<typeof makeSetSiteBandwidthPolicyKey>;
let fanOut: () => Promise<number>;

/** The bandwidth policy in the device's `config` shadow, if any. */
const desiredPolicy = (deviceId: string) => shadow.desired(deviceId)?.bandwidthPolicy;

beforeEach(() => {
  store = new InMemoryDeviceConfigStore();
  shadow = new InMemoryConfigShadow();
  queue = new InMemoryConfigFanOutQueue();
  const ports = { store, shadow, queue };
  setDevice = makeSetDeviceBandwidthPolicyKey(ports);
  setSite = makeSetSiteBandwidthPolicyKey(ports);
  const runPage = makeRunConfigFanOutPage(ports, { pageSize: 100, sleep: async () => {} });
  fanOut = () => queue.drain(runPage);
});

describe('PUT/DELETE /devices/{id}/bandwidth-policy (the bandwidthPolicy key of the device layer)', () => {
  it("stores the device's own policy and puts it into its config shadow", async () => {
    store.addDevice('gw-1', 'plant-a');
    await setSite('plant-a', SITE_POLICY);
    await fanOut();

    const result = await setDevice('gw-1', DEVICE_POLICY);

    expect(result.effective).toEqual({ policy: DEVICE_POLICY, source: 'device' });
    expect((await store.getDevice('gw-1'))?.layer.values).toEqual({ bandwidthPolicy: DEVICE_POLICY });
    expect(desiredPolicy('gw-1')).toEqual(DEVICE_POLICY);
  });

  it("falls back to the site's policy when the device's own is removed, or to none", async () => {
    store.addDevice('gw-1', 'plant-a');
    store.addDevice('gw-2', 'plant-b');
    await setDevice('gw-1', DEVICE_POLICY);
    await setDevice('gw-2', DEVICE_POLICY);
    await setSite('plant-a', SITE_POLICY);
    await fanOut();

    expect((await setDevice('gw-1', undefined)).effective).toEqual({ policy: SITE_POLICY, source: 'site' });
    expect(desiredPolicy('gw-1')).toEqual(SITE_POLICY);
    expect((await setDevice('gw-2', undefined)).effective).toEqual({ policy: undefined, source: 'none' });
    expect(shadow.desired('gw-2')).toEqual(desiredConfigState({}));
  });

  it("keeps the device layer's other keys", async () => {
    store.addDevice('gw-1', 'plant-a');
    await makeSetDeviceConfigLayer({ store, shadow })('gw-1', { logLevel: 'debug' });

    await setDevice('gw-1', DEVICE_POLICY);
    await setDevice('gw-1', undefined);

    expect((await store.getDevice('gw-1'))?.layer.values).toEqual({ logLevel: 'debug' });
  });

  it('refuses an unknown device, writing nothing', async () => {
    await expect(setDevice('gw-none', DEVICE_POLICY)).rejects.toBeInstanceOf(DeviceNotFoundError);
    expect(shadow.writes).toEqual([]);
  });

  it('fails when the shadow cannot be written; the same request repeated completes it', async () => {
    store.addDevice('gw-1', 'plant-a');
    shadow.failing.add('gw-1');
    await expect(setDevice('gw-1', DEVICE_POLICY)).rejects.toThrow('shadow update of gw-1 failed');

    shadow.failing.clear();
    await setDevice('gw-1', DEVICE_POLICY);
    expect(desiredPolicy('gw-1')).toEqual(DEVICE_POLICY);
  });
});

describe('PUT/DELETE /sites/{site}/bandwidth-policy (the bandwidthPolicy key of the site layer)', () => {
  it("delivers the site's policy through the fan-out to each device without its own", async () => {
    store.addDevice('gw-1', 'plant-a');
    store.addDevice('gw-2', 'plant-a');
    store.addDevice('gw-3', 'plant-b');
    await setDevice('gw-2', DEVICE_POLICY);

    const result = await setSite('plant-a', SITE_POLICY);
    expect(desiredPolicy('gw-1')).toBeUndefined();
    await fanOut();

    expect(result.layer.values).toEqual({ bandwidthPolicy: SITE_POLICY });
    expect(desiredPolicy('gw-1')).toEqual(SITE_POLICY);
    expect(desiredPolicy('gw-2')).toEqual(DEVICE_POLICY);
    expect(shadow.desired('gw-3')).toBeUndefined();
  });

  it('clears the policy from the shadows of the devices that followed the site', async () => {
    store.addDevice('gw-1', 'plant-a');
    await setSite('plant-a', SITE_POLICY);
    await fanOut();

    await setSite('plant-a', undefined);
    await fanOut();

    expect(desiredPolicy('gw-1')).toBeUndefined();
    expect((await store.getSharedLayer({ layer: 'site', site: 'plant-a' })).values).toEqual({});
  });

  it('reaches every device of a large site, page by page, skipping none', async () => {
    for (let i = 0; i < 250; i++) store.addDevice(`gw-${String(i).padStart(3, '0')}`, 'plant-a');

    await setSite('plant-a', SITE_POLICY);
    const pages = await fanOut();

    expect(pages).toBe(3);
    expect(new Set(shadow.writes.map((w) => w.deviceId)).size).toBe(250);
  });

  it('stores a policy for a site with no devices yet', async () => {
    await setSite('plant-new', SITE_POLICY);
    expect((await store.getSharedLayer({ layer: 'site', site: 'plant-new' })).values).toEqual({
      bandwidthPolicy: SITE_POLICY,
    });
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
