/**
 * The telemetry gate, end to end: a release that leaks memory halts at the canary, although every
 * device's own health check says healthy, because the canary's memory is compared with devices of
 * its cohort that are not updated yet. Simulated devices send real telemetry over AWS IoT (local).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishRelease } from '../../scripts/local-aws/releases';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { api, context, eventually, uniqueId } from './support';

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  waves: {
    status: string;
    deviceCount: number;
    funnel?: Record<string, number>;
    gateResults?: { outcome: string }[];
  }[];
}

const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-gated-'));
let fleet: FleetSimulator | undefined;

beforeAll(async () => {
  await publishRelease(api('operator'), '1.0.0', ['rpi4', 'jetson-nano']);
  await publishRelease(api('operator'), '1.1.0', ['rpi4', 'jetson-nano']);
});

afterAll(async () => {
  await fleet?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

describe('rollouts gated on telemetry', () => {
  it('halts a leaking release at the canary, with the comparison in the reason', async () => {
    const region = uniqueId('region');
    const size = 8;
    fleet = new FleetSimulator({
      api: api('operator'),
      broker: context().mqtt,
      size,
      prefix: uniqueId('leak'),
      region,
      sites: ['mill'],
      hardwareTypes: ['rpi4'],
      firmwareVersion: '1.0.0',
      ota: { stateDir: join(stateDir, 'ota'), timeFactor: 0.05, allowPlainHttp: true },
      telemetry: {
        stateDir: join(stateDir, 'telemetry'),
        // 1.1.0 leaks; its own health check stays healthy. Time is compressed (local AWS skips
        // the soak's Wait), so the leak is fast: 20 MiB a second, from the first window on.
        byVersion: { '1.1.0': 'memory-leak' },
        leakMiBPerMinute: 1200,
        windowSeconds: 3,
        sampleEverySeconds: 0.5,
        sendEverySeconds: 3,
      },
    });
    await fleet.start();
    // Every device reported 1.0.0 and has sent telemetry from it (the baseline).
    const deviceIds = fleet.agents.map((agent) => agent.deviceId);
    await eventually(async () => {
      const devices = await Promise.all(deviceIds.map((id) => api('viewer').getDevice(id)));
      return devices.every(
        (d) => d.firmwareVersion === '1.0.0' && (d as { health?: string }).health === 'healthy',
      )
        ? true
        : undefined;
    }, 90_000);

    const { status, body } = await api('operator').request<{ rollout: RolloutBody }>('POST', 'rollouts', {
      releaseId: 'rel-1.1.0',
      target: { filter: { region } },
      failurePolicy: 'halt',
      waves: [
        {
          count: 1,
          soakSeconds: 30,
          gates: [{ metric: 'memory.used_mib', stat: 'p95', maxIncreasePercent: 10 }],
        },
        { percent: 100 },
      ],
    });
    expect(status, JSON.stringify(body)).toBe(201);

    const finished = await eventually(async () => {
      const rollout = (await api('viewer').request<RolloutBody>('GET', `rollouts/${body.rollout.rolloutId}`))
        .body;
      return ['succeeded', 'halted', 'aborted', 'failed'].includes(rollout.status) ? rollout : undefined;
    }, 240_000);

    expect(finished.status, JSON.stringify(finished.waves, null, 1)).toBe('halted');
    expect(finished.haltReason).toMatch(
      /^Wave 1 telemetry gate memory\.used_mib p95: updated devices [\d.]+ \(median of 1, .*\) is [\d.]+% above not-yet-updated devices [\d.]+ \(median of \d+ on 1\.0\.0\); allowed \+10%/,
    );
    expect(finished.waves.map((w) => w.status)).toEqual(['failed', 'canceled']);
    // The canary itself was healthy by its own check: it is the comparison that stopped it.
    expect(finished.waves[0]?.funnel?.healthy).toBe(1);
    expect(finished.waves[0]?.gateResults?.[0]?.outcome).toBe('failed');
    const onNew = fleet.agents.filter((agent) => agent.firmwareVersion === '1.1.0');
    expect(onNew).toHaveLength(1);
  });
});
