/**
 * AWS IoT lets a thing be in at most 10 thing groups, and each wave's job targets a thing group of
 * its own; local AWS does not enforce the limit, so this checks our side: a device is in at most
 * one EdgeOps wave group at a time, and in none once a rollout ended, through more rollouts than
 * the limit would allow if groups were left behind.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IoTClient, ListThingGroupsCommand, ListThingGroupsForThingCommand } from '@aws-sdk/client-iot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

const ROLLOUTS = 12;
const FIRST = '5.0.0';
/** One release per rollout, each newer than the last (devices refuse downgrades). */
const VERSIONS = Array.from({ length: ROLLOUTS }, (_, i) => `5.0.${i + 1}`);
/** For the abort once the groups test is done. */
const LAST = '5.1.0';
const HARDWARE = ['rpi4'];

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
}

let client: IoTClient | undefined;
const iot = () => {
  client ??= new IoTClient(localClientConfig(context()));
  return client;
};
let stateDir: string;
let fleet: FleetSimulator | undefined;

/** The EdgeOps wave groups (`edgeops-<rolloutId>-w<n>`) the thing is in. */
async function waveGroupsOf(deviceId: string): Promise<string[]> {
  const { thingGroups = [] } = await iot().send(new ListThingGroupsForThingCommand({ thingName: deviceId }));
  return thingGroups.flatMap((g) => (g.groupName?.startsWith('edgeops-') ? [g.groupName] : []));
}

/** The wave groups of `rolloutId` that exist now. */
async function groupsOfRollout(rolloutId: string): Promise<string[]> {
  const { thingGroups = [] } = await iot().send(new ListThingGroupsCommand({}));
  return thingGroups.flatMap((g) => (g.groupName?.startsWith(`edgeops-${rolloutId}-`) ? [g.groupName] : []));
}

beforeAll(async () => {
  // Small images: the delta builds between consecutive releases are not what this is about.
  for (const version of [...VERSIONS, LAST])
    await publishRelease(api('operator'), version, HARDWARE, () => randomBytes(4096));
  stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-groups-'));
});

afterAll(async () => {
  await fleet?.stop();
  client?.destroy();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('wave thing groups', () => {
  it(
    `keep each device in at most one EdgeOps group through ${ROLLOUTS} rollouts, and in none after each`,
    async () => {
      const region = uniqueId('region');
      fleet = new FleetSimulator({
        api: api('operator'),
        broker: context().mqtt,
        size: 2,
        prefix: uniqueId('grp'),
        region,
        sites: ['north'],
        hardwareTypes: HARDWARE,
        firmwareVersion: FIRST,
        ota: { stateDir, timeFactor: 0.05, allowPlainHttp: true },
      });
      await fleet.start();
      const deviceIds = fleet.agents.map((a) => a.deviceId);
      expect(deviceIds).toHaveLength(2);

      for (const version of VERSIONS) {
        const created = await api('operator').request<{ rollout: RolloutBody }>('POST', 'rollouts', {
          releaseId: `rel-${version}`,
          target: { filter: { region } },
          // Two waves, so the first one's group must go before the second one's comes.
          waves: [{ count: 1 }, { percent: 100 }],
        });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        const { rolloutId } = created.body.rollout;

        let mostPerDevice = 0;
        let mostOfRollout = 0;
        const finished = await eventually(async () => {
          for (const deviceId of deviceIds)
            mostPerDevice = Math.max(mostPerDevice, (await waveGroupsOf(deviceId)).length);
          mostOfRollout = Math.max(mostOfRollout, (await groupsOfRollout(rolloutId)).length);
          const { body } = await api('viewer').request<RolloutBody>('GET', `rollouts/${rolloutId}`);
          return ['succeeded', 'halted', 'aborted', 'failed'].includes(body.status) ? body : undefined;
        }, 120_000);

        expect(finished.status, `${version}: ${finished.haltReason}`).toBe('succeeded');
        expect(mostPerDevice, version).toBeLessThanOrEqual(1);
        expect(mostOfRollout, version).toBeLessThanOrEqual(1);
        for (const deviceId of deviceIds)
          expect(await waveGroupsOf(deviceId), `${deviceId} after ${version}`).toEqual([]);
        expect(await groupsOfRollout(rolloutId)).toEqual([]);
        for (const deviceId of deviceIds)
          expect((await api('viewer').getDevice(deviceId)).firmwareVersion, deviceId).toBe(version);
      }
    },
    20 * 60_000,
  );

  it("abort while the run waits for approval after a wave whose job completed answers 200 and ends the wave's group", async () => {
    expect(fleet).toBeDefined();
    const deviceIds = fleet?.agents.map((a) => a.deviceId) ?? [];
    const region = (await api('viewer').getDevice(deviceIds[0] as string)).region;
    const created = await api('operator').request<{ rollout: RolloutBody }>('POST', 'rollouts', {
      releaseId: `rel-${LAST}`,
      target: { filter: { region } },
      waves: [{ count: 1, requireApproval: true }, { percent: 100 }],
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const { rolloutId } = created.body.rollout;
    await eventually(async () => {
      const { body } = await api('viewer').request<RolloutBody>('GET', `rollouts/${rolloutId}`);
      return body.status === 'awaiting-approval' ? body : undefined;
    }, 120_000);

    const abort = await api('operator').request<RolloutBody>('POST', `rollouts/${rolloutId}/abort`);
    const approve = await api('operator').request<{ message: string }>(
      'POST',
      `rollouts/${rolloutId}/approve`,
    );

    expect(abort.status, JSON.stringify(abort.body)).toBe(200);
    expect(abort.body.status).toBe('aborted');
    expect(approve.status).toBe(409);
    expect(approve.body.message).toBe(`Cannot approve rollout ${rolloutId}: it is aborted`);
    expect(await groupsOfRollout(rolloutId)).toEqual([]);
    for (const deviceId of deviceIds) expect(await waveGroupsOf(deviceId)).toEqual([]);
  });
});
