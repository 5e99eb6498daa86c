import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import {
  CONFIG_REPORT_TOPIC,
  ConfigReportV1,
  desiredConfigState,
  EMPTY_CONFIG_REVISION,
  shadowPatch,
} from '../../contract/device-config';
import { BandwidthPolicySync } from '../../device/cloud/bandwidth-policy-sync';
import { DeviceAgent } from '../../device/device-agent';
import {
  InMemoryConfigFanOutQueue,
  InMemoryDeviceConfigStore,
} from '../../functions/adapters/in-memory-device-config';
import type { ConfigShadow } from '../../functions/ports/config-shadow';
import { makeRunConfigFanOutPage } from '../../functions/use-cases/run-config-fan-out-page';
import {
  makeSetDeviceConfigLayer,
  makeSetSharedConfigLayer,
} from '../../functions/use-cases/set-config-layer';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-bw-1';
const FULL = BandwidthPolicy.parse({
  onMetered: 'delta-only',
  maxBytesPerUpdate: 50_000_000,
  windows: [{ days: ['sat', 'sun'], start: '22:00', end: '06:00' }],
  timeZone: 'Europe/Berlin',
});
const PLAIN = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' });

/** What the backend's IotConfigShadow sends (a patch against the current desired), applied in memory. */
const backendShadow = (core: InMemoryIotCore): ConfigShadow => ({
  async writeDesired(deviceId, desired) {
    core.updateConfigDesired(deviceId, shadowPatch(core.configDesiredState(deviceId), desired));
  },
});
const setConfig = (core: InMemoryIotCore, values: Record<string, unknown>) =>
  backendShadow(core).writeDesired(THING, desiredConfigState(values));

/** The device's config reports, parsed with the contract. */
const reports = (core: InMemoryIotCore, thing = THING) =>
  core.deviceMessages
    .filter((m) => m.thingName === thing && m.topic === CONFIG_REPORT_TOPIC(thing))
    .map((m) => ConfigReportV1.parse(JSON.parse(m.payload)));

/** Polls: log lines and applied policies change without anything the IoT core's waitFor sees. */
async function eventually<T>(check: () => T | undefined, timeoutMs = 2_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let core: InMemoryIotCore;
let logs: string[];
const agents: DeviceAgent[] = [];

function startAgent(options: { metered?: boolean; thing?: string } = {}) {
  const thing = options.thing ?? THING;
  const agent = new DeviceAgent({
    identity: { deviceId: thing },
    connector: core.connector(thing),
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    log: (line) => logs.push(line),
    ...(options.metered === undefined ? {} : { metered: options.metered }),
  });
  agents.push(agent);
  return agent;
}

beforeEach(() => {
  core = new InMemoryIotCore();
  logs = [];
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});

describe('DeviceAgent bandwidth policy from the config shadow', () => {
  it('starts without a policy when there is no config shadow, and reports the empty configuration', async () => {
    const agent = startAgent();
    await agent.start();
    const [report] = await eventually(() => (reports(core).length > 0 ? reports(core) : undefined));

    expect(agent.currentBandwidthPolicy()).toBeUndefined();
    expect(report).toMatchObject({ revision: EMPTY_CONFIG_REVISION, applied: {}, rejected: {} });
  });

  it('takes the desired policy on connect and reports it applied', async () => {
    await setConfig(core, { bandwidthPolicy: FULL });
    const agent = startAgent();
    await agent.start();

    await eventually(() => agent.currentBandwidthPolicy());
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);
    const last = await eventually(() => reports(core).at(-1));
    expect(last.applied).toEqual({ bandwidthPolicy: FULL });
    expect(last.revision).toBe(desiredConfigState({ bandwidthPolicy: FULL }).revision);
  });

  it('follows changes while connected, including a replacement with fewer fields, and a removal', async () => {
    const agent = startAgent();
    await agent.start();

    await setConfig(core, { bandwidthPolicy: FULL });
    await eventually(() => (agent.currentBandwidthPolicy()?.windows ? true : undefined));
    await setConfig(core, { bandwidthPolicy: PLAIN });
    await eventually(() => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
    await setConfig(core, {});
    await eventually(() => (agent.currentBandwidthPolicy() === undefined ? true : undefined));
    expect(reports(core).at(-1)?.applied).toEqual({});
  });

  it('rejects an invalid desired policy with the reason and keeps the previous one', async () => {
    const agent = startAgent();
    await agent.start();
    await setConfig(core, { bandwidthPolicy: PLAIN });
    await eventually(() => agent.currentBandwidthPolicy());

    await setConfig(core, { bandwidthPolicy: { onMetered: 'sometimes', timeZone: 'UTC' } });
    const report = await eventually(() => {
      const last = reports(core).at(-1);
      return last?.rejected.bandwidthPolicy ? last : undefined;
    });

    expect(report.rejected.bandwidthPolicy).toMatch(/invalid value: bandwidthPolicy\.onMetered/);
    expect(report.applied).toEqual({ bandwidthPolicy: PLAIN });
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
  });

  it('picks up a policy set while it was offline when it reconnects', async () => {
    const agent = startAgent();
    await agent.start();
    await agent.stop();
    await setConfig(core, { bandwidthPolicy: PLAIN });

    await agent.start();

    await eventually(() => agent.currentBandwidthPolicy());
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
  });

  it('ignores a policy in the classic shadow, which the device itself could write', async () => {
    const agent = startAgent();
    await agent.start();
    core.updateDesired(THING, {
      edgeops: { bandwidthPolicy: { ...PLAIN, maxBytesPerUpdate: null, windows: null } },
    });
    await setConfig(core, { logLevel: 'info' });
    await eventually(() => (reports(core).at(-1)?.applied.logLevel ? true : undefined));

    expect(agent.currentBandwidthPolicy()).toBeUndefined();
  });

  it('exposes a simulated metered link that can change, and tells listeners', async () => {
    const agent = startAgent({ metered: true });
    let calls = 0;
    agent.onBandwidthChange(() => calls++);

    expect(agent.metered).toBe(true);
    agent.setMetered(false);
    agent.setMetered(false);

    expect(agent.metered).toBe(false);
    expect(calls).toBe(1);
  });
});

describe('backend to device, end to end in memory', () => {
  it("delivers a site's policy, a device's own on top of it, and the fallback when that is removed", async () => {
    const store = new InMemoryDeviceConfigStore();
    store.addDevice(THING, 'plant-a');
    const queue = new InMemoryConfigFanOutQueue();
    const ports = { store, shadow: backendShadow(core), queue };
    const setShared = makeSetSharedConfigLayer(ports);
    const setDevice = makeSetDeviceConfigLayer(ports);
    const runPage = makeRunConfigFanOutPage(ports, { sleep: async () => {} });
    const agent = startAgent();
    await agent.start();

    await setShared({ layer: 'site', site: 'plant-a' }, { bandwidthPolicy: PLAIN });
    await queue.drain(runPage);
    await eventually(() => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));

    await setDevice(THING, { bandwidthPolicy: FULL });
    await eventually(() => (agent.currentBandwidthPolicy()?.onMetered === 'delta-only' ? true : undefined));
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);

    await setDevice(THING, {});
    await eventually(() => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
  });
});

describe('BandwidthPolicySync on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeops-bw-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the applied policy across a restart, and removing it clears the file', async () => {
    const file = join(dir, 'bandwidth-policy.json');
    const first = await BandwidthPolicySync.open({ file, log: () => {} });
    await first.apply(FULL);

    const second = await BandwidthPolicySync.open({ file, log: () => {} });
    expect(second.current).toEqual(FULL);
    await second.apply(undefined);
    expect((await BandwidthPolicySync.open({ file, log: () => {} })).current).toBeUndefined();
  });

  it('refuses a value the schema does not allow, changing nothing', async () => {
    const sync = await BandwidthPolicySync.open({ log: () => {} });
    await sync.apply(PLAIN);

    await expect(sync.apply({ onMetered: 'wait', timeZone: 'Mars/Olympus' })).rejects.toThrow(/timeZone/);
    expect(sync.current).toEqual(PLAIN);
  });

  it('counts a corrupt file as no policy, and says so', async () => {
    const file = join(dir, 'bandwidth-policy.json');
    await writeFile(file, '{not json');
    const messages: string[] = [];

    const sync = await BandwidthPolicySync.open({ file, log: (m) => messages.push(m) });

    expect(sync.current).toBeUndefined();
    expect(messages.join('\n')).toMatch(/ignoring stored policy/);
  });
});

describe('FleetSimulator metered links', () => {
  it('puts the devices it is told to on a metered link, and switches them', async () => {
    const simulator = new FleetSimulator({
      size: 3,
      connectorFor: (deviceId) => core.connector(deviceId),
      metered: (deviceId) => deviceId.endsWith('2'),
    });
    await simulator.start();
    try {
      expect(simulator.agents.map((agent) => [agent.deviceId, agent.metered])).toEqual([
        ['sim-0001', false],
        ['sim-0002', true],
        ['sim-0003', false],
      ]);
      simulator.setMetered('sim-0001', true);
      expect(simulator.agent('sim-0001')?.metered).toBe(true);
    } finally {
      await simulator.stop();
    }
  });
});
