/**
 * Layered configuration on the deployed stack: fleet, site and device layers set through the API,
 * delivered through each device's read-only `config` shadow (a fan-out worker for the shared
 * layers), applied by real agents over MQTT, reported back through the batched event path, and
 * shown as drift while a device is offline or refuses a key.
 */
import { isDeepStrictEqual } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { desiredConfigState } from '../../contract/device-config';
import { DeviceAgent } from '../../device/device-agent';
import type { Registration } from '../../operator-client/operator-api-client';
import { api, context, eventually, profile, uniqueId } from './support';

const WAIT = { onMetered: 'wait', timeZone: 'UTC' };
const DELTA = { onMetered: 'delta-only', timeZone: 'Europe/Berlin', maxBytesPerUpdate: 50_000_000 };
/** A fan-out goes through SQS and a worker, and reports through another queue: allow for both. */
const DELIVERY_MS = 90_000;

interface DeviceConfigAnswer {
  desired: { revision: string; values: Record<string, unknown>; sources: Record<string, string> };
  reported: { revision: string; applied: Record<string, unknown>; rejected: Record<string, string> } | null;
  drift: { drifting: boolean; keys: string[]; revisionPending: boolean };
  layers: Record<'fleet' | 'site' | 'device', { values: Record<string, unknown> } | null>;
}

const agents: DeviceAgent[] = [];
/** Each agent's log, to show with a failure. */
const logs = new Map<DeviceAgent, string[]>();
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});
afterEach(async () => {
  // The fleet layer reaches every device of the run: leave it empty for the tests after each one.
  await api('operator').request('PUT', 'config/fleet', {});
});

async function registered(site: string): Promise<Registration> {
  return api('operator').registerDevice(profile(uniqueId('cfg'), site));
}

async function started(registration: Registration): Promise<DeviceAgent> {
  const lines: string[] = [];
  const agent = new DeviceAgent({
    identity: { deviceId: registration.device.deviceId, ...registration.credentials },
    broker: context().mqtt,
    firmwareVersion: '1.0.0',
    log: (line) => lines.push(`${new Date().toISOString()} ${line}`),
  });
  logs.set(agent, lines);
  agents.push(agent);
  await agent.start();
  return agent;
}

const deviceConfig = async (deviceId: string) => {
  const { status, body } = await api('viewer').request<DeviceConfigAnswer>(
    'GET',
    `devices/${deviceId}/config`,
  );
  expect(status, JSON.stringify(body)).toBe(200);
  return body;
};

const driftingDevices = async (site: string) => {
  const { status, body } = await api('viewer').request<{ devices: { deviceId: string }[] }>(
    'GET',
    `sites/${site}/config/drift?limit=100`,
  );
  expect(status, JSON.stringify(body)).toBe(200);
  return body.devices.map((d) => d.deviceId);
};

/** Waits until the agent applied exactly `values`; a timeout says what the agent and the backend saw. */
const untilApplied = async (agent: DeviceAgent, values: Record<string, unknown>) => {
  try {
    await eventually(
      async () => (isDeepStrictEqual(agent.configuration?.applied, values) ? true : undefined),
      DELIVERY_MS,
    );
  } catch (error) {
    const backend = await api('viewer')
      .request('GET', `devices/${agent.deviceId}/config`)
      .then((r) => JSON.stringify(r.body))
      .catch(String);
    throw new Error(
      `${(error as Error).message}: ${agent.deviceId} applied ${JSON.stringify(agent.configuration?.applied)}, wanted ${JSON.stringify(values)}\nbackend: ${backend}\nagent log:\n${(logs.get(agent) ?? []).join('\n')}`,
    );
  }
};

describe('layered device configuration', () => {
  it('layers fleet, site and device per key and delivers the merge to real agents; a change of the site reaches each', async () => {
    const site = uniqueId('site');
    const fleet = await api('operator').request('PUT', 'config/fleet', { logLevel: 'info' });
    expect(fleet.status, JSON.stringify(fleet.body)).toBe(202);
    const siteWrite = await api('operator').request('PUT', `sites/${site}/config`, { bandwidthPolicy: WAIT });
    expect(siteWrite.status, JSON.stringify(siteWrite.body)).toBe(202);
    const [a, b] = [await registered(site), await registered(site)];
    if (!a || !b) throw new Error('no devices');
    const own = await api('operator').request('PUT', `devices/${a.device.deviceId}/config`, {
      logLevel: 'debug',
    });
    expect(own.status, JSON.stringify(own.body)).toBe(200);

    const [agentA, agentB] = [await started(a), await started(b)];

    await untilApplied(agentA, { bandwidthPolicy: WAIT, logLevel: 'debug' });
    await untilApplied(agentB, { bandwidthPolicy: WAIT, logLevel: 'info' });
    expect(agentA.currentBandwidthPolicy()).toEqual(WAIT);
    const view = await eventually(async () => {
      const config = await deviceConfig(a.device.deviceId);
      return config.drift.drifting ? undefined : config;
    }, DELIVERY_MS);
    expect(view.desired.sources).toEqual({ bandwidthPolicy: 'site', logLevel: 'device' });
    expect(view.layers.fleet?.values).toEqual({ logLevel: 'info' });
    expect(view.reported?.applied).toEqual({ bandwidthPolicy: WAIT, logLevel: 'debug' });
    expect(view.reported?.revision).toBe(
      desiredConfigState({ bandwidthPolicy: WAIT, logLevel: 'debug' } as never).revision,
    );

    const change = await api('operator').request('PUT', `sites/${site}/config`, { bandwidthPolicy: DELTA });
    expect(change.status).toBe(202);
    await untilApplied(agentA, { bandwidthPolicy: DELTA, logLevel: 'debug' });
    await untilApplied(agentB, { bandwidthPolicy: DELTA, logLevel: 'info' });

    // Clearing the fleet layer reaches B (its logLevel came from there); A keeps its own.
    expect((await api('operator').request('PUT', 'config/fleet', {})).status).toBe(202);
    await untilApplied(agentB, { bandwidthPolicy: DELTA });
    await untilApplied(agentA, { bandwidthPolicy: DELTA, logLevel: 'debug' });
  });

  it('shows drift while a device is offline and clears it once the device comes back and applies', async () => {
    const site = uniqueId('site');
    const registration = await registered(site);
    const agent = await started(registration);
    await untilApplied(agent, {});
    await agent.stop();

    const write = await api('operator').request('PUT', `sites/${site}/config`, { logLevel: 'warning' });
    expect(write.status).toBe(202);

    const offline = await eventually(async () => {
      const config = await deviceConfig(registration.device.deviceId);
      return config.drift.revisionPending && config.desired.values.logLevel === 'warning'
        ? config
        : undefined;
    }, DELIVERY_MS);
    expect(offline.drift).toMatchObject({ drifting: true, keys: ['logLevel'] });
    await eventually(
      async () => ((await driftingDevices(site)).includes(registration.device.deviceId) ? true : undefined),
      DELIVERY_MS,
    );

    await agent.start();
    await untilApplied(agent, { logLevel: 'warning' });
    await eventually(
      async () => ((await deviceConfig(registration.device.deviceId)).drift.drifting ? undefined : true),
      DELIVERY_MS,
    );
    await eventually(
      async () => ((await driftingDevices(site)).length === 0 ? true : undefined),
      DELIVERY_MS,
    );
  });

  it('shows drift on a key the device rejects, with its reason, until the key is removed', async () => {
    const site = uniqueId('site');
    const registration = await registered(site);
    const deviceId = registration.device.deviceId;
    const agent = await started(registration);

    // The agent here runs without telemetry, so it cannot apply a telemetry cadence.
    const put = await api('operator').request('PUT', `devices/${deviceId}/config`, {
      telemetry: { sendEverySeconds: 60 },
      logLevel: 'info',
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);

    const rejecting = await eventually(async () => {
      const config = await deviceConfig(deviceId);
      return config.reported?.rejected.telemetry ? config : undefined;
    }, DELIVERY_MS);
    expect(rejecting.reported?.rejected.telemetry).toMatch(/telemetry is not enabled/);
    expect(rejecting.drift).toEqual({ drifting: true, keys: ['telemetry'], revisionPending: false });
    await eventually(
      async () => ((await driftingDevices(site)).includes(deviceId) ? true : undefined),
      DELIVERY_MS,
    );

    await api('operator').request('PUT', `devices/${deviceId}/config`, { logLevel: 'info' });
    await untilApplied(agent, { logLevel: 'info' });
    await eventually(
      async () => ((await deviceConfig(deviceId)).drift.drifting ? undefined : true),
      DELIVERY_MS,
    );
    await eventually(
      async () => ((await driftingDevices(site)).length === 0 ? true : undefined),
      DELIVERY_MS,
    );
  });

  it('refuses a bad layer with 400 naming the key, and writes nothing', async () => {
    const site = uniqueId('site');
    const registration = await registered(site);
    const deviceId = registration.device.deviceId;

    const unknown = await api('operator').request<{ errors: { field: string }[] }>(
      'PUT',
      `devices/${deviceId}/config`,
      { colour: 'red', logLevel: 'info' },
    );
    const invalid = await api('operator').request<{ errors: { field: string }[] }>(
      'PUT',
      `sites/${site}/config`,
      {
        bandwidthPolicy: { onMetered: 'wait', timeZone: 'Mars/Olympus' },
      },
    );

    expect(unknown.status).toBe(400);
    expect(unknown.body.errors.map((e) => e.field)).toEqual(['colour']);
    expect(invalid.status).toBe(400);
    expect(invalid.body.errors.map((e) => e.field)).toEqual(['bandwidthPolicy.timeZone']);
    const view = await deviceConfig(deviceId);
    expect(view.layers.device).toBeNull();
    expect(view.layers.site).toBeNull();
  });

  it("gives a device registered after a site change the site's configuration at registration", async () => {
    const site = uniqueId('site');
    await api('operator').request('PUT', `sites/${site}/config`, { bandwidthPolicy: DELTA });

    const registration = await registered(site);
    const agent = await started(registration);

    await untilApplied(agent, { bandwidthPolicy: DELTA });
  });

  it('keeps the bandwidth policy routes working as aliases of the bandwidthPolicy key', async () => {
    const site = uniqueId('site');
    const registration = await registered(site);
    const agent = await started(registration);

    const sitePut = await api('operator').request('PUT', `sites/${site}/bandwidth-policy`, WAIT);
    expect(sitePut.status, JSON.stringify(sitePut.body)).toBe(202);
    await untilApplied(agent, { bandwidthPolicy: WAIT });
    const devicePut = await api('operator').request<{ effective: { source: string } }>(
      'PUT',
      `devices/${registration.device.deviceId}/bandwidth-policy`,
      DELTA,
    );
    expect(devicePut.body.effective.source).toBe('device');
    await untilApplied(agent, { bandwidthPolicy: DELTA });
    await api('operator').request('DELETE', `devices/${registration.device.deviceId}/bandwidth-policy`);
    await untilApplied(agent, { bandwidthPolicy: WAIT });
  });

  it("refuses a device's attempt to update its own config shadow, and the desired configuration stays the backend's", async () => {
    const site = uniqueId('site');
    await api('operator').request('PUT', `sites/${site}/config`, { bandwidthPolicy: DELTA });
    const registration = await registered(site);
    const deviceId = registration.device.deviceId;
    const agent = await started(registration);
    await untilApplied(agent, { bandwidthPolicy: DELTA });
    const client = agent.mqttClient;

    const forged = { state: { desired: desiredConfigState({ bandwidthPolicy: WAIT } as never) } };
    const refusal = await client
      .publishAsync(`$aws/things/${deviceId}/shadow/name/config/update`, JSON.stringify(forged), { qos: 1 })
      .then(
        () => undefined,
        (error: Error & { code?: number }) => error,
      );
    expect(refusal?.message).toMatch(/Not authorized/);
    expect(refusal?.code).toBe(135);
    const deleteRefusal = await client
      .publishAsync(`$aws/things/${deviceId}/shadow/name/config/delete`, '{}', { qos: 1 })
      .then(
        () => undefined,
        (error: Error) => error,
      );
    expect(deleteRefusal?.message).toMatch(/Not authorized/);

    // Its classic shadow is still its own to write, but nothing reads configuration from there.
    await client.publishAsync(
      `$aws/things/${deviceId}/shadow/update`,
      JSON.stringify({ state: { desired: { edgeops: { bandwidthPolicy: WAIT } } } }),
      { qos: 1 },
    );
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(agent.currentBandwidthPolicy()).toEqual(DELTA);

    // Ask the shadow service itself: the desired state is still the backend's revision.
    const answer = new Promise<{ state: { desired: { revision: string } } }>((resolve) => {
      client.on('message', (topic, payload) => {
        if (topic === `$aws/things/${deviceId}/shadow/name/config/get/accepted`)
          resolve(JSON.parse(payload.toString()));
      });
    });
    await client.publishAsync(
      `$aws/things/${deviceId}/shadow/name/config/get`,
      JSON.stringify({ clientToken: 'e2e' }),
      {
        qos: 1,
      },
    );
    expect((await answer).state.desired.revision).toBe((await deviceConfig(deviceId)).desired.revision);
  });
});
