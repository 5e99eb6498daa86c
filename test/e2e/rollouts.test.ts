import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeJobCommand, IoTClient, ListJobExecutionsForThingCommand } from '@aws-sdk/client-iot';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { publishRelease } from '../../scripts/local-aws/releases';
import type { FaultProfile } from '../../simulator/fault-profiles';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

/** Rollout JSON as the API shows it (only what these tests read). */
interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  waves: {
    wave: number;
    status: string;
    deviceCount: number;
    jobId: string | null;
    funnel?: Record<string, number>;
  }[];
}

const HARDWARE = ['rpi4', 'jetson-nano'];
const SITES = ['north', 'south', 'east'];
const stateDirs: string[] = [];
const fleets: FleetSimulator[] = [];
const iot = () => new IoTClient(localClientConfig(context()));

/** A fleet of its own (own id prefix and region, so targets never overlap between tests). */
async function startFleet(
  size: number,
  profiles: (deviceId: string, hardwareType: string) => FaultProfile = () => 'healthy',
) {
  const prefix = uniqueId('ota');
  const region = uniqueId('region');
  const byDevice: Record<string, FaultProfile> = {};
  for (let i = 0; i < size; i++) {
    const deviceId = `${prefix}-${String(i + 1).padStart(4, '0')}`;
    byDevice[deviceId] = profiles(
      deviceId,
      HARDWARE[Math.floor(i / SITES.length) % HARDWARE.length] as string,
    );
  }
  const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-fleet-'));
  stateDirs.push(stateDir);
  const fleet = new FleetSimulator({
    api: api('operator'),
    broker: context().mqtt,
    size,
    prefix,
    region,
    sites: SITES,
    hardwareTypes: HARDWARE,
    firmwareVersion: '1.0.0',
    ota: {
      stateDir,
      profiles: byDevice,
      timeFactor: 0.05,
      allowPlainHttp: true,
      slowLinkBytesPerSecond: 256,
    },
  });
  fleets.push(fleet);
  await fleet.start();
  // Reports reach the registry through a queue: a rollout planned before a device's report
  // arrived would not know what it runs (no delta for it, nothing to roll it back to).
  const deviceIds = Object.keys(byDevice);
  await eventually(
    async () =>
      (await Promise.all(deviceIds.map(firmwareOf))).every((v) => v === '1.0.0') ? true : undefined,
    60_000,
  );
  return { fleet, region, deviceIds };
}

const threeWaves = [
  { count: 6, soakSeconds: 1 },
  { percent: 30, soakSeconds: 1 },
  { percent: 100, soakSeconds: 1 },
];

async function startRollout(region: string, body: Record<string, unknown> = {}) {
  const { status, body: created } = await api('operator').request<{ rollout: RolloutBody }>(
    'POST',
    'rollouts',
    {
      releaseId: 'rel-1.1.0',
      target: { filter: { region } },
      waves: threeWaves,
      ...body,
    },
  );
  expect(status, JSON.stringify(created)).toBe(201);
  return created.rollout;
}

const getRollout = async (rolloutId: string) =>
  (await api('viewer').request<RolloutBody>('GET', `rollouts/${rolloutId}`)).body;

const untilStatus = (rolloutId: string, ...statuses: string[]) =>
  eventually(async () => {
    const rollout = await getRollout(rolloutId);
    return statuses.includes(rollout.status) ? rollout : undefined;
  }, 240_000);

const firmwareOf = async (deviceId: string) => (await api('viewer').getDevice(deviceId)).firmwareVersion;

beforeAll(async () => {
  await publishRelease(api('operator'), '1.0.0', HARDWARE);
  await publishRelease(api('operator'), '1.1.0', HARDWARE);
});

afterEach(async () => {
  await Promise.all(fleets.splice(0).map((f) => f.stop()));
});

afterAll(() => {
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

describe('staged rollouts on a simulated fleet', () => {
  it('takes 30 devices over three waves to the new version; the funnel counts match', async () => {
    const { region, deviceIds } = await startFleet(30);

    const started = await startRollout(region);
    const finished = await untilStatus(started.rolloutId, 'succeeded', 'halted', 'aborted');

    expect(finished.status, finished.haltReason ?? '').toBe('succeeded');
    expect(finished.waves.map((w) => w.deviceCount)).toEqual([6, 9, 15]);
    for (const wave of finished.waves) expect(wave.funnel?.healthy).toBe(wave.deviceCount);
    await eventually(async () =>
      (await Promise.all(deviceIds.map(firmwareOf))).every((v) => v === '1.1.0') ? true : undefined,
    );
  });

  it('halts after a canary that fails health; nobody outside it gets a job; failed devices stay on 1.0.0', async () => {
    const { region, deviceIds } = await startFleet(18, (_id, hardware) =>
      hardware === 'jetson-nano' ? 'unhealthy-after-boot' : 'healthy',
    );

    const started = await startRollout(region);
    const halted = await untilStatus(started.rolloutId, 'succeeded', 'halted', 'aborted');

    expect(halted.status).toBe('halted');
    // The job's FAILED may reach the gate before the device's own event does: either names the device.
    expect(halted.haltReason).toMatch(/^Wave 1: \d+ device\(s\) failed, more than the 0 allowed \(ota-/);
    expect(halted.waves.slice(1).every((w) => w.jobId === null)).toBe(true);
    const devices = await api('viewer').request<{
      items: { deviceId: string; wave: number; stage: string }[];
    }>('GET', `rollouts/${started.rolloutId}/devices?limit=100`);
    const canary = new Set(devices.body.items.filter((d) => d.wave === 1).map((d) => d.deviceId));
    for (const deviceId of deviceIds.filter((id) => !canary.has(id))) {
      const jobs = await iot().send(new ListJobExecutionsForThingCommand({ thingName: deviceId }));
      expect(jobs.executionSummaries ?? []).toEqual([]);
    }
    const failed = await eventually(async () => {
      const { body } = await api('viewer').request<{ items: { deviceId: string; reason?: string }[] }>(
        'GET',
        `rollouts/${started.rolloutId}/devices?stage=rolled-back&limit=100`,
      );
      return body.items.length > 0 ? body.items : undefined;
    });
    expect(failed.every((d) => d.reason === 'health-check-failed')).toBe(true);
    for (const { deviceId } of failed) expect(await firmwareOf(deviceId)).toBe('1.0.0');
  });

  it("records AWS IoT's FAILED job execution of each device that failed health on its execution", async () => {
    const { region } = await startFleet(6, (_id, hardware) =>
      hardware === 'jetson-nano' ? 'unhealthy-after-boot' : 'healthy',
    );
    const started = await startRollout(region, { waves: [{ percent: 100, soakSeconds: 1, maxFailures: 6 }] });
    await untilStatus(started.rolloutId, 'succeeded', 'halted', 'aborted');

    const devices = await eventually(async () => {
      const { body } = await api('viewer').request<{
        items: { deviceId: string; stage: string; jobStatus?: string }[];
      }>('GET', `rollouts/${started.rolloutId}/devices?limit=100`);
      const rolledBack = body.items.filter((d) => d.stage === 'rolled-back');
      return rolledBack.length > 0 && rolledBack.every((d) => d.jobStatus !== undefined)
        ? body.items
        : undefined;
    });

    for (const device of devices) {
      expect(device.jobStatus, device.deviceId).toBe(device.stage === 'rolled-back' ? 'FAILED' : undefined);
    }
  });

  it('pauses after the first wave and completes once resumed', async () => {
    const { region } = await startFleet(12);
    const started = await startRollout(region);

    const pause = await api('operator').request('POST', `rollouts/${started.rolloutId}/pause`);
    expect(pause.status, JSON.stringify(pause.body)).toBe(200);
    const paused = await untilStatus(started.rolloutId, 'paused', 'succeeded', 'halted');
    expect(paused.status).toBe('paused');
    expect(paused.waves[1]?.status).toBe('pending');

    expect((await api('operator').request('POST', `rollouts/${started.rolloutId}/resume`)).status).toBe(200);
    const resumed = await untilStatus(started.rolloutId, 'succeeded', 'halted');
    expect(resumed.status, resumed.haltReason ?? '').toBe('succeeded');
  });

  it('aborts mid-wave: pending executions are canceled and nothing else starts', async () => {
    const { region } = await startFleet(12, () => 'slow-link');
    const started = await startRollout(region);
    // The wave records its job id when it starts; the job itself exists once its devices are
    // grouped (an abort before that leaves no job to cancel).
    await eventually(async () => {
      const jobId = (await getRollout(started.rolloutId)).waves[0]?.jobId;
      return jobId ? (await iot().send(new DescribeJobCommand({ jobId }))).job : undefined;
    });

    const abort = await api('operator').request<RolloutBody>('POST', `rollouts/${started.rolloutId}/abort`);

    expect(abort.status).toBe(200);
    expect(abort.body.status).toBe('aborted');
    const jobId = abort.body.waves[0]?.jobId as string;
    const job = await iot().send(new DescribeJobCommand({ jobId }));
    expect(['CANCELED', 'CANCELLATION_IN_PROGRESS']).toContain(job.job?.status);
    await new Promise((r) => setTimeout(r, 3000));
    const later = await getRollout(started.rolloutId);
    expect(later.status).toBe('aborted');
    expect(later.waves.slice(1).every((w) => w.jobId === null)).toBe(true);
  });

  it('rolls a completed rollout back: every updated device returns to the previous release', async () => {
    const { region, deviceIds } = await startFleet(9);
    const started = await startRollout(region, { waves: [{ percent: 100, soakSeconds: 1 }] });
    const done = await untilStatus(started.rolloutId, 'succeeded', 'halted');
    expect(done.status, done.haltReason ?? '').toBe('succeeded');

    const rollback = await api('operator').request<{ rollouts: RolloutBody[] }>(
      'POST',
      `rollouts/${started.rolloutId}/rollback`,
    );

    expect(rollback.status).toBe(202);
    const [undo] = rollback.body.rollouts;
    expect(undo).toBeDefined();
    expect((await untilStatus(undo?.rolloutId as string, 'succeeded', 'halted')).status).toBe('succeeded');
    // Firmware comes from shadow reports, a queue of their own: a batch that timed out on a loaded
    // machine is handed out again only after the queue's visibility timeout (90 s locally).
    await eventually(
      async () =>
        (await Promise.all(deviceIds.map(firmwareOf))).every((v) => v === '1.0.0') ? true : undefined,
      100_000,
    );
  }, 240_000);
});

describe('malformed rollout requests', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an unknown release', { releaseId: 'rel-9.9.9' }, 'releaseId'],
    ['an empty target', { target: {} }, 'target'],
    ['impossible wave sizes', { waves: [{ count: 500 }, { percent: 100 }] }, 'waves'],
    [
      'a threshold out of range',
      { waves: [{ percent: 100, successThreshold: 120 }] },
      'waves.0.successThreshold',
    ],
    ['a wave with both count and percent', { waves: [{ count: 1, percent: 5 }] }, 'waves.0'],
    ['a target with no compatible device', { target: { filter: { hardwareType: 'toaster' } } }, 'target'],
  ])('answers 400 for %s and starts nothing', async (_case, patch, field) => {
    const before = (await api('viewer').request<{ items: unknown[] }>('GET', 'rollouts?limit=100')).body.items
      .length;

    const { status, body } = await api('operator').request<{ errors: { field: string }[] }>(
      'POST',
      'rollouts',
      {
        releaseId: 'rel-1.1.0',
        target: { filter: { site: 'north' } },
        waves: threeWaves,
        ...patch,
      },
    );

    expect(status, JSON.stringify(body)).toBe(400);
    expect(body.errors.map((e) => e.field).join(' ')).toContain(field);
    const after = (await api('viewer').request<{ items: unknown[] }>('GET', 'rollouts?limit=100')).body.items
      .length;
    expect(after).toBe(before);
  });
});
