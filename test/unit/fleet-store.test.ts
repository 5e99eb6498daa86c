import { describe, expect, it } from 'vitest';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { type Device, lastSeenAt, newDevice } from '../../functions/domain/device';
import { ValidationError } from '../../functions/domain/errors';

async function storeWith(...ids: string[]) {
  const store = new InMemoryFleetStore();
  for (const [i, id] of ids.entries()) {
    const device = newDevice(
      { deviceId: id, hardwareType: 'rpi4', site: i % 2 === 0 ? 'plant-a' : 'plant-b', region: 'eu' },
      new Date('2026-11-01T00:00:00Z'),
    );
    await store.createDevice(device);
    await store.completeRegistration(id, `cert-${id}`);
  }
  return store;
}

const report = (shadowVersion: number, firmwareVersion: string, at = '2026-11-02T00:00:00Z') => ({
  deviceId: 'gw-1',
  firmwareVersion,
  shadowVersion,
  reportedAt: new Date(at),
});

describe('InMemoryFleetStore reports', () => {
  it('applies a newer report and ignores a repeated or older one', async () => {
    const store = await storeWith('gw-1');

    expect(await store.recordReport(report(2, '1.1.0'))).toBe(true);
    expect(await store.recordReport(report(2, '9.9.9'))).toBe(false);
    expect(await store.recordReport(report(1, '1.0.0'))).toBe(false);

    expect((await store.getDevice('gw-1'))?.firmwareVersion).toBe('1.1.0');
  });

  it('ignores a report for an unknown device', async () => {
    const store = await storeWith();
    expect(await store.recordReport(report(1, '1.0.0'))).toBe(false);
    expect(await store.getDevice('gw-1')).toBeUndefined();
  });

  it('keeps the newest connection state when events arrive out of order', async () => {
    const store = await storeWith('gw-1');
    await store.recordConnection({
      deviceId: 'gw-1',
      state: 'disconnected',
      at: new Date('2026-11-02T10:00:00Z'),
    });
    await store.recordConnection({
      deviceId: 'gw-1',
      state: 'connected',
      at: new Date('2026-11-02T09:00:00Z'),
    });

    const device = (await store.getDevice('gw-1')) as Device;
    expect(device.connection).toEqual({ state: 'disconnected', changedAt: '2026-11-02T10:00:00.000Z' });
  });
});

describe('InMemoryFleetStore listing', () => {
  it('pages through every device exactly once', async () => {
    const store = await storeWith('a', 'b', 'c', 'd', 'e');
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.listDevices({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((d) => d.deviceId));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('filters by site', async () => {
    const store = await storeWith('a', 'b', 'c');
    const page = await store.listDevices({ site: 'plant-b', limit: 10 });
    expect(page.items.map((d) => d.deviceId)).toEqual(['b']);
  });

  it('rejects a cursor it did not issue', async () => {
    const store = await storeWith('a');
    await expect(store.listDevices({ limit: 1, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

describe('lastSeenAt', () => {
  it('is the later of the last report and the last connection change', () => {
    const base = newDevice({ deviceId: 'x', hardwareType: 'h', site: 's', region: 'r' }, new Date());
    expect(lastSeenAt(base)).toBeUndefined();
    expect(
      lastSeenAt({
        ...base,
        lastReportAt: '2026-11-02T10:00:00.000Z',
        connection: { state: 'disconnected', changedAt: '2026-11-02T11:00:00.000Z' },
      }),
    ).toBe('2026-11-02T11:00:00.000Z');
  });
});
