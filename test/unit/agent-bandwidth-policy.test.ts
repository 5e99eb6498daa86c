import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BandwidthPolicy, bandwidthPolicyShadowValue } from '../../contract/bandwidth-policy';
import { BandwidthPolicySync, type ShadowSession } from '../../device/cloud/bandwidth-policy-sync';
import { DeviceAgent } from '../../device/device-agent';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { newDevice } from '../../functions/domain/device';
import type { DeviceShadow } from '../../functions/ports/device-shadow';
import { makeSetDeviceBandwidthPolicy } from '../../functions/use-cases/set-device-bandwidth-policy';
import { makeSetSiteBandwidthPolicy } from '../../functions/use-cases/set-site-bandwidth-policy';
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

/** What the backend's IotDeviceShadow sends, applied to the in-memory shadow instead. */
const backendShadow = (core: InMemoryIotCore): DeviceShadow => ({
  async setDesiredBandwidthPolicy(deviceId, policy) {
    core.updateDesired(deviceId, { edgeops: { bandwidthPolicy: bandwidthPolicyShadowValue(policy) } });
  },
});
const setDesired = (core: InMemoryIotCore, policy: unknown) =>
  core.updateDesired(THING, { edgeops: { bandwidthPolicy: policy } });
const reportedPolicy = (core: InMemoryIotCore) =>
  (core.reportedState(THING)?.edgeops as { bandwidthPolicy?: unknown } | undefined)?.bandwidthPolicy;

/** Polls: log lines appear without anything happening in the IoT core that waitFor would see. */
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

function startAgent(options: { metered?: boolean } = {}) {
  const agent = new DeviceAgent({
    identity: { deviceId: THING },
    connector: core.connector(THING),
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    log: (line) => logs.push(line),
    ...options,
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

describe('DeviceAgent bandwidth policy from the shadow', () => {
  it('starts without a policy when the shadow has none', async () => {
    const agent = startAgent();
    await agent.start();
    await core.waitFor(() => core.reportedState(THING)?.firmwareVersion);

    expect(agent.currentBandwidthPolicy()).toBeUndefined();
    expect(reportedPolicy(core)).toBeUndefined();
  });

  it('takes the desired policy on connect and reports it back', async () => {
    setDesired(core, bandwidthPolicyShadowValue(FULL));
    const agent = startAgent();
    await agent.start();

    await core.waitFor(() => reportedPolicy(core), 2_000, 'reported policy');
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);
    expect(reportedPolicy(core)).toEqual(FULL);
  });

  it('follows changes while connected, including a replacement with fewer fields, and a removal', async () => {
    const agent = startAgent();
    await agent.start();
    const changes: unknown[] = [];
    agent.onBandwidthChange(() => changes.push(agent.currentBandwidthPolicy()));

    setDesired(core, bandwidthPolicyShadowValue(FULL));
    await core.waitFor(() => (agent.currentBandwidthPolicy() ? true : undefined), 2_000, 'first policy');
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);

    setDesired(core, bandwidthPolicyShadowValue(PLAIN));
    await core.waitFor(() => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
    await core.waitFor(() =>
      (reportedPolicy(core) as { onMetered?: string })?.onMetered === 'wait' ? true : undefined,
    );
    expect(reportedPolicy(core)).toEqual(PLAIN);

    setDesired(core, null);
    await core.waitFor(() => (agent.currentBandwidthPolicy() === undefined ? true : undefined));
    await core.waitFor(() => (reportedPolicy(core) === undefined ? true : undefined));
    expect(changes).toEqual([FULL, PLAIN, undefined]);
  });

  it('ignores an invalid desired policy, logs it, and keeps the previous one', async () => {
    setDesired(core, bandwidthPolicyShadowValue(PLAIN));
    const agent = startAgent();
    await agent.start();
    await core.waitFor(() => agent.currentBandwidthPolicy());

    setDesired(core, { onMetered: 'sometimes', timeZone: 'Mars/Olympus' });
    await eventually(() => logs.find((line) => line.includes('ignoring invalid desired policy')));

    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);
    expect(logs.find((line) => line.includes('ignoring invalid'))).toMatch(/onMetered: .*timeZone: /);
  });

  it('picks up a policy set while it was offline when it reconnects', async () => {
    const agent = startAgent();
    await agent.start();
    core.setReachable(THING, false);

    setDesired(core, bandwidthPolicyShadowValue(FULL));
    expect(agent.currentBandwidthPolicy()).toBeUndefined();
    core.setReachable(THING, true);

    await core.waitFor(() => agent.currentBandwidthPolicy(), 2_000, 'policy after reconnect');
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);
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
    const fleetStore = new InMemoryFleetStore();
    await fleetStore.createDevice(
      newDevice({ deviceId: THING, hardwareType: 'rpi4', site: 'plant-a', region: 'eu' }, new Date()),
    );
    await fleetStore.completeRegistration(THING, 'cert');
    const ports = { fleetStore, policies: fleetStore, shadow: backendShadow(core) };
    const agent = startAgent();
    await agent.start();

    await makeSetSiteBandwidthPolicy(ports)('plant-a', FULL);
    await core.waitFor(() => agent.currentBandwidthPolicy(), 2_000, 'site policy');
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);

    await makeSetDeviceBandwidthPolicy(ports)(THING, PLAIN);
    await core.waitFor(() => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));
    // No window or cap left over from the site's policy: the shadow merge saw explicit nulls.
    expect(agent.currentBandwidthPolicy()).toEqual(PLAIN);

    await makeSetDeviceBandwidthPolicy(ports)(THING, undefined);
    await core.waitFor(() => (agent.currentBandwidthPolicy()?.onMetered === 'delta-only' ? true : undefined));
    expect(agent.currentBandwidthPolicy()).toEqual(FULL);
  });
});

describe('BandwidthPolicySync on disk', () => {
  let dir: string;
  let file: string;
  const reports: Record<string, unknown>[] = [];
  const session: ShadowSession = {
    publish: async () => {},
    report: async (reported) => {
      reports.push(reported);
    },
  };
  const getAccepted = (state: unknown, version: number) =>
    Buffer.from(JSON.stringify({ state, version, timestamp: 1 }));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edgeops-bw-'));
    file = join(dir, 'bandwidth-policy.json');
    reports.length = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps the applied policy across a restart, and a shadow with none clears it', async () => {
    const first = await BandwidthPolicySync.open({ thingName: THING, file, log: () => {} });
    first.handle(
      `$aws/things/${THING}/shadow/get/accepted`,
      getAccepted({ desired: { edgeops: { bandwidthPolicy: FULL } } }, 3),
      session,
    );
    await first.settled();
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ policy: FULL });
    expect(reports).toEqual([{ edgeops: { bandwidthPolicy: bandwidthPolicyShadowValue(FULL) } }]);

    const second = await BandwidthPolicySync.open({ thingName: THING, file, log: () => {} });
    expect(second.current).toEqual(FULL);

    second.handle(
      `$aws/things/${THING}/shadow/get/rejected`,
      Buffer.from(JSON.stringify({ code: 404, message: 'No shadow' })),
      session,
    );
    await second.settled();
    expect(second.current).toBeUndefined();
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ policy: null });
  });

  it('reads a field left null (as local AWS stores a cleared field) as not set', async () => {
    const sync = await BandwidthPolicySync.open({ thingName: THING, log: () => {} });
    sync.handle(
      `$aws/things/${THING}/shadow/get/accepted`,
      getAccepted({ desired: { edgeops: { bandwidthPolicy: bandwidthPolicyShadowValue(PLAIN) } } }, 2),
      session,
    );
    await sync.settled();
    expect(bandwidthPolicyShadowValue(PLAIN)).toMatchObject({ windows: null });
    expect(sync.current).toEqual(PLAIN);
  });

  it('ignores answers older than one already applied, and a corrupt file', async () => {
    await writeFile(file, '{"policy": {"onMetered": 7}}');
    const logs: string[] = [];
    const sync = await BandwidthPolicySync.open({ thingName: THING, file, log: (line) => logs.push(line) });
    expect(sync.current).toBeUndefined();
    expect(logs[0]).toMatch(/ignoring stored policy/);

    const topic = `$aws/things/${THING}/shadow/get/accepted`;
    sync.handle(topic, getAccepted({ desired: { edgeops: { bandwidthPolicy: PLAIN } } }, 5), session);
    sync.handle(topic, getAccepted({ desired: { edgeops: { bandwidthPolicy: FULL } } }, 4), session);
    await sync.settled();
    expect(sync.current).toEqual(PLAIN);
  });

  it('does not report again when the reported policy already matches', async () => {
    const sync = await BandwidthPolicySync.open({ thingName: THING, log: () => {} });
    const state = {
      desired: { edgeops: { bandwidthPolicy: PLAIN } },
      reported: { edgeops: { bandwidthPolicy: PLAIN } },
    };
    sync.handle(`$aws/things/${THING}/shadow/get/accepted`, getAccepted(state, 1), session);
    await sync.settled();

    expect(sync.current).toEqual(PLAIN);
    expect(reports).toEqual([]);
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
