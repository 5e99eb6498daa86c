import { beforeEach, describe, expect, it } from 'vitest';
import { desiredConfigState } from '../../contract/device-config';
import {
  InMemoryConfigFanOutQueue,
  InMemoryConfigShadow,
  InMemoryDeviceConfigStore,
} from '../../functions/adapters/in-memory-device-config';
import { mergeConfig } from '../../functions/domain/device-config';
import { DeviceNotFoundError, ValidationError } from '../../functions/domain/errors';
import { makeDeliverDeviceConfig } from '../../functions/use-cases/deliver-device-config';
import { makeGetDeviceConfig, makeListSiteConfigDrift } from '../../functions/use-cases/get-device-config';
import { makeRecordConfigReport } from '../../functions/use-cases/record-config-report';
import { makeRunConfigFanOutPage } from '../../functions/use-cases/run-config-fan-out-page';
import {
  makeSetDeviceConfigLayer,
  makeSetSharedConfigLayer,
} from '../../functions/use-cases/set-config-layer';

const WAIT = { onMetered: 'wait', timeZone: 'UTC' } as const;
const DELTA = { onMetered: 'delta-only', timeZone: 'Europe/Berlin' } as const;

let store: InMemoryDeviceConfigStore;
let shadow: InMemoryConfigShadow;
let queue: InMemoryConfigFanOutQueue;
let setShared: ReturnType<typeof makeSetSharedConfigLayer>;
let setDevice: ReturnType<typeof makeSetDeviceConfigLayer>;
let runPage: ReturnType<typeof makeRunConfigFanOutPage>;
let getConfig: ReturnType<typeof makeGetDeviceConfig>;
let record: ReturnType<typeof makeRecordConfigReport>;

beforeEach(() => {
  store = new InMemoryDeviceConfigStore();
  shadow = new InMemoryConfigShadow();
  queue = new InMemoryConfigFanOutQueue();
  const ports = { store, shadow, queue };
  setShared = makeSetSharedConfigLayer(ports);
  setDevice = makeSetDeviceConfigLayer(ports);
  runPage = makeRunConfigFanOutPage(ports, { pageSize: 2, sleep: async () => {} });
  getConfig = makeGetDeviceConfig(ports);
  record = makeRecordConfigReport(ports);
});

const report = (revision: string, applied: Record<string, unknown>, seq = 1, rejected = {}) => ({
  schema: 'edgeops.config-report.v1' as const,
  seq,
  revision,
  applied,
  rejected,
  reportedAt: Date.parse('2026-11-28T00:00:00Z'),
});

describe('setting a shared layer', () => {
  it('stores the layer, queues one fan-out message and touches no device shadow itself', async () => {
    store.addDevice('gw-1', 'plant-a');

    const result = await setShared({ layer: 'site', site: 'plant-a' }, { bandwidthPolicy: WAIT });

    expect(result.layer).toMatchObject({ values: { bandwidthPolicy: WAIT }, version: 1 });
    expect(result.merged.revision).toBe(desiredConfigState({ bandwidthPolicy: WAIT }).revision);
    expect(queue.messages).toEqual([{ scope: { layer: 'site', site: 'plant-a' } }]);
    expect(shadow.writes).toEqual([]);
  });

  it('refuses a layer that would not fit a shadow, naming the limit, and writes nothing', async () => {
    const oversized = { bandwidthPolicy: { ...WAIT, timeZone: 'x'.repeat(8200) } } as never;

    await expect(setShared({ layer: 'fleet' }, oversized)).rejects.toThrow(ValidationError);
    expect((await store.getSharedLayer({ layer: 'fleet' })).version).toBe(0);
    expect(queue.messages).toEqual([]);
  });
});

describe('the fan-out, one page per message', () => {
  it('reaches every device of the site in pages, leaves other sites alone, and stops after the last page', async () => {
    for (const id of ['a-1', 'a-2', 'a-3', 'a-4', 'a-5']) store.addDevice(id, 'plant-a');
    store.addDevice('b-1', 'plant-b');
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'debug' });

    const results: string[] = [];
    const ran = await queue.drain(async (message) => results.push((await runPage(message)).next));

    expect(ran).toBe(3);
    expect(results).toEqual(['page', 'page', 'done']);
    expect(shadow.writes.map((w) => w.deviceId).sort()).toEqual(['a-1', 'a-2', 'a-3', 'a-4', 'a-5']);
    expect(shadow.desired('a-3')).toEqual(desiredConfigState({ logLevel: 'debug' }));
  });

  it('keeps a device on its own value, and does not write a shadow whose revision it already has', async () => {
    store.addDevice('a-1', 'plant-a');
    store.addDevice('a-2', 'plant-a');
    await setDevice('a-1', { logLevel: 'error' });
    await setShared({ layer: 'fleet' }, { logLevel: 'info' });
    await queue.drain(runPage);
    const writes = shadow.writes.length;

    await setShared({ layer: 'fleet' }, { logLevel: 'info' });
    await queue.drain(runPage);

    expect(shadow.desired('a-1')).toEqual(desiredConfigState({ logLevel: 'error' }));
    expect(shadow.desired('a-2')).toEqual(desiredConfigState({ logLevel: 'info' }));
    expect(shadow.writes.length).toBe(writes);
  });

  it('runs a page again when a layer changed while it ran, so no older write stays last', async () => {
    store.addDevice('a-1', 'plant-a');
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'info' });
    let changed = false;
    store.beforeCall = async (name) => {
      // Another operator changes the site while the first page writes its shadows.
      if (name === 'markDelivered' && !changed) {
        changed = true;
        await store.putSharedLayer({ layer: 'site', site: 'plant-a' }, { logLevel: 'debug' });
      }
    };

    const first = await runPage(queue.messages.shift() ?? { scope: { layer: 'fleet' } });
    store.beforeCall = undefined;
    await queue.drain(runPage);

    expect(first.next).toBe('again');
    expect(shadow.desired('a-1')).toEqual(desiredConfigState({ logLevel: 'debug' }));
  });

  it('gives up on a device whose shadow write fails, leaving it drifting, and goes on with the rest', async () => {
    store.addDevice('a-1', 'plant-a');
    store.addDevice('a-2', 'plant-a');
    shadow.failing.add('a-1');
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'info' });

    const [message] = queue.messages.splice(0);
    const result = await runPage(message ?? { scope: { layer: 'fleet' } });

    expect(result.outcomes).toMatchObject({ delivered: 1, failed: 1 });
    expect(store.isDrifting('a-1')).toBe(true);
    expect((await getConfig('a-1')).delivery.desiredRevision).not.toBe(
      (await getConfig('a-1')).delivery.deliveredRevision,
    );
  });

  it('paces deliveries to at most maxPerSecond started per second', async () => {
    for (const id of ['a-1', 'a-2', 'a-3', 'a-4']) store.addDevice(id, 'plant-a');
    const waits: number[] = [];
    const paced = makeRunConfigFanOutPage(
      { store, shadow, queue },
      { pageSize: 10, concurrency: 4, maxPerSecond: 10, sleep: async (ms) => void waits.push(ms) },
    );
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'info' });

    await paced(queue.messages.shift() ?? { scope: { layer: 'fleet' } });

    // Four starts at 100 ms apart: the first at once, the others wait about 100, 200, 300 ms.
    expect(waits.length).toBe(3);
    expect(Math.max(...waits)).toBeGreaterThan(250);
  });
});

describe("a device's own layer", () => {
  it('is delivered at once, merged over the site and fleet layers', async () => {
    store.addDevice('gw-1', 'plant-a');
    await setShared({ layer: 'fleet' }, { logLevel: 'info', bandwidthPolicy: WAIT });
    await setShared({ layer: 'site', site: 'plant-a' }, { bandwidthPolicy: DELTA });

    const result = await setDevice('gw-1', { logLevel: 'debug' });

    expect(result.delivery).toBe('delivered');
    expect(result.merged.sources).toEqual({ bandwidthPolicy: 'site', logLevel: 'device' });
    expect(shadow.desired('gw-1')).toEqual(desiredConfigState({ bandwidthPolicy: DELTA, logLevel: 'debug' }));
  });

  it('is refused for an unknown device, writing nothing', async () => {
    await expect(setDevice('ghost', { logLevel: 'info' })).rejects.toThrow(DeviceNotFoundError);
    expect(shadow.writes).toEqual([]);
  });

  it('computes again when its own layer changes between the merge and the write', async () => {
    store.addDevice('gw-1', 'plant-a');
    let raced = false;
    store.beforeCall = async (name) => {
      if (name === 'setDesired' && !raced) {
        raced = true;
        await store.putDeviceLayer('gw-1', { logLevel: 'warning' });
      }
    };

    await makeDeliverDeviceConfig({ store, shadow })('gw-1');

    expect(shadow.desired('gw-1')).toEqual(desiredConfigState({ logLevel: 'warning' }));
  });

  it('delivers the merged configuration to a device registered after the fan-out passed', async () => {
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'debug' });
    await queue.drain(runPage);
    store.addDevice('late', 'plant-a');

    // What registration enqueues for a new device.
    const result = await runPage({ scope: { layer: 'device', deviceId: 'late' } });

    expect(result).toMatchObject({ devices: 1, next: 'done', outcomes: { delivered: 1 } });
    expect(shadow.desired('late')).toEqual(desiredConfigState({ logLevel: 'debug' }));
    expect(queue.messages).toEqual([]);
  });

  it('does nothing for a device message whose device is gone', async () => {
    const result = await runPage({ scope: { layer: 'device', deviceId: 'gone' } });

    expect(result.outcomes).toMatchObject({ delivered: 0, failed: 0 });
    expect(shadow.writes).toEqual([]);
  });
});

describe('reports and drift', () => {
  it('shows the layers, the merge, the report and the drift of a device, and clears the drift when it applies', async () => {
    store.addDevice('gw-1', 'plant-a');
    await setShared(
      { layer: 'site', site: 'plant-a' },
      { logLevel: 'debug', telemetry: { sendEverySeconds: 60 } },
    );
    await queue.drain(runPage);
    const revision = mergeConfig({
      site: { values: { logLevel: 'debug', telemetry: { sendEverySeconds: 60 } }, version: 1 },
    }).revision;

    expect((await getConfig('gw-1')).drift).toMatchObject({ drifting: true, revisionPending: true });
    expect((await makeListSiteConfigDrift({ store })('plant-a', 10)).items.map((d) => d.deviceId)).toEqual([
      'gw-1',
    ]);

    await record(
      'gw-1',
      report(revision, { logLevel: 'debug' }, 1, { telemetry: 'not applied: telemetry is not enabled' }),
    );
    const rejecting = await getConfig('gw-1');
    expect(rejecting.drift).toEqual({ drifting: true, keys: ['telemetry'], revisionPending: false });
    expect(rejecting.reported?.rejected).toEqual({ telemetry: 'not applied: telemetry is not enabled' });

    await record('gw-1', report(revision, { logLevel: 'debug', telemetry: { sendEverySeconds: 60 } }, 2));
    expect((await getConfig('gw-1')).drift).toEqual({ drifting: false, keys: [], revisionPending: false });
    expect((await makeListSiteConfigDrift({ store })('plant-a', 10)).items).toEqual([]);
  });

  it('ignores a report older than the one stored', async () => {
    store.addDevice('gw-1', 'plant-a');
    await record('gw-1', report('0000000000000002', {}, 5));

    expect(await record('gw-1', report('0000000000000001', {}, 4))).toBe(false);
    expect((await getConfig('gw-1')).reported?.revision).toBe('0000000000000002');
  });

  it('pages through the drifting devices of a site', async () => {
    for (const id of ['a-1', 'a-2', 'a-3']) store.addDevice(id, 'plant-a');
    await setShared({ layer: 'site', site: 'plant-a' }, { logLevel: 'debug' });
    await queue.drain(runPage);
    const list = makeListSiteConfigDrift({ store });

    const first = await list('plant-a', 2);
    const second = await list('plant-a', 2, first.nextCursor);

    expect(first.items.map((d) => d.deviceId)).toEqual(['a-1', 'a-2']);
    expect(second.items.map((d) => d.deviceId)).toEqual(['a-3']);
    expect(second.nextCursor).toBeUndefined();
  });
});
