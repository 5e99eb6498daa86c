/**
 * Bandwidth policies on the deployed stack: the operator sets one through the API, the device
 * gets it through its shadow, and its next update follows it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { firmwareImage } from '../../scripts/local-aws/firmware-images';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const HARDWARE = ['rpi4'];
// Versions of this file's own, so its releases hold the simulated images whatever ran before.
const FROM = '4.0.0';
const TO = '4.1.0';
const fleets: FleetSimulator[] = [];
const stateDirs: string[] = [];

async function startDevice(metered: boolean, site = uniqueId('site')) {
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-bandwidth-'));
  stateDirs.push(stateDir);
  const region = uniqueId('region');
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size: 1,
    prefix: uniqueId('bw'),
    region,
    sites: [site],
    hardwareTypes: HARDWARE,
    firmwareVersion: FROM,
    metered,
    ota: { stateDir, timeFactor: 0.05, allowPlainHttp: true, factoryImage: (hw) => firmwareImage(hw, FROM) },
  });
  fleets.push(fleet);
  await fleet.start();
  const [agent] = fleet.agents;
  if (!agent) throw new Error('no device');
  await eventually(async () =>
    (await api('viewer').getDevice(agent.deviceId)).firmwareVersion === FROM ? true : undefined,
  );
  return { fleet, agent, region, site };
}

async function startRollout(region: string) {
  const { status, body } = await api('operator').request<{ rollout: { rolloutId: string } }>(
    'POST',
    'rollouts',
    {
      releaseId: `rel-${TO}`,
      target: { filter: { region } },
      waves: [{ percent: 100, soakSeconds: 1 }],
    },
  );
  expect(status, JSON.stringify(body)).toBe(201);
  return body.rollout.rolloutId;
}

const rolloutStatus = async (rolloutId: string) =>
  (
    await api('viewer').request<{ status: string; bytes?: { deltaDevices: number; fullDevices: number } }>(
      'GET',
      `rollouts/${rolloutId}`,
    )
  ).body;

beforeAll(async () => {
  for (const version of [FROM, TO])
    await publishRelease(api('operator'), version, HARDWARE, (hw) => firmwareImage(hw, version));
});

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
});

afterAll(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

describe('bandwidth policies', () => {
  it('reaches the device through its shadow; a metered device waits, then updates once unmetered', async () => {
    const { fleet, agent, region } = await startDevice(true);
    const policy = { onMetered: 'wait', timeZone: 'Europe/Berlin' };

    const put = await api('operator').request('PUT', `devices/${agent.deviceId}/bandwidth-policy`, policy);
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    await eventually(async () => (agent.currentBandwidthPolicy()?.onMetered === 'wait' ? true : undefined));

    const rolloutId = await startRollout(region);
    await eventually(
      async () =>
        fleet.statuses().find((s) => s.deviceId === agent.deviceId)?.stage === 'downloading'
          ? true
          : undefined,
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(agent.firmwareVersion).toBe(FROM);
    expect((await rolloutStatus(rolloutId)).status).toBe('running');

    fleet.setMetered(agent.deviceId, false);
    const finished = await eventually(async () => {
      const rollout = await rolloutStatus(rolloutId);
      return rollout.status === 'running' ? undefined : rollout;
    }, 120_000);
    expect(finished.status).toBe('succeeded');
    expect(finished.bytes).toMatchObject({ deltaDevices: 1, fullDevices: 0 });
  });

  it('refuses a policy the schema does not allow, naming the field, and writes nothing', async () => {
    const { agent } = await startDevice(false);

    const put = await api('operator').request<{ errors: { field: string }[] }>(
      'PUT',
      `devices/${agent.deviceId}/bandwidth-policy`,
      { onMetered: 'wait', timeZone: 'Mars/Olympus' },
    );

    expect(put.status).toBe(400);
    expect(put.body.errors.map((e) => e.field)).toContain('timeZone');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(agent.currentBandwidthPolicy()).toBeUndefined();
  });
});
