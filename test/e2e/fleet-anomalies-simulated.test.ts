/**
 * Devices unlike their peers, with the simulator: 24 simulated agents of one cohort send their
 * (synthetic) readings through the agent's real telemetry pipeline and AWS IoT (local); three of
 * them drift: a memory leak, a hot CPU, a noisy link. The fleet analysis, started as the schedule
 * would, flags those three on the right metric and none of the others.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeExecutionCommand, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { afterAll, describe, expect, it } from 'vitest';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import type { TelemetryBehaviour } from '../../simulator/simulated-telemetry';
import { api, context, eventually, uniqueId } from './support';

const SIZE = 24;
const MAX_RUNS = 8;
const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-anomalies-'));
let fleet: FleetSimulator | undefined;

afterAll(async () => {
  await fleet?.stop();
  rmSync(stateDir, { recursive: true, force: true });
});

interface DeviceBody {
  deviceId: string;
  healthAt: string | null;
  anomaly: { metric: string; score: number } | null;
}

const sfn = () => new SFNClient(localClientConfig(context()));

/** One analysis run, followed through the executions it continues in, to its end. */
async function runAnalysis(): Promise<void> {
  const stateMachineArn = context().outputs.FleetAnalysisStateMachineArn;
  const name = `sim-${randomBytes(4).toString('hex')}`;
  await sfn().send(new StartExecutionCommand({ stateMachineArn, name, input: '{}' }));
  const executionArn = (part: number) =>
    `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${part === 0 ? name : `${name}-part${part}`}`;
  for (let part = 0; ; part++) {
    const done = await eventually(async () => {
      const execution = await sfn().send(new DescribeExecutionCommand({ executionArn: executionArn(part) }));
      return execution.status === 'RUNNING' ? undefined : execution;
    }, 120_000);
    expect(done.status).toBe('SUCCEEDED');
    if ((JSON.parse(done.output ?? '{}') as { totals?: unknown }).totals !== undefined) return;
  }
}

describe('devices unlike their peers, from simulated devices', () => {
  it('flags a leaking, a hot and a noisy device on their metrics, and no healthy one', async () => {
    const prefix = uniqueId('peer');
    const region = uniqueId('region');
    const id = (index: number) => `${prefix}-${String(index + 1).padStart(4, '0')}`;
    const drifting: Record<string, { behaviour: TelemetryBehaviour; metric: string }> = {
      [id(2)]: { behaviour: 'memory-leak', metric: 'memory.used_mib' },
      [id(9)]: { behaviour: 'hot-cpu', metric: 'cpu.percent' },
      [id(16)]: { behaviour: 'noisy-link', metric: 'link.reconnects' },
    };
    fleet = new FleetSimulator({
      api: api('operator'),
      broker: context().mqtt,
      size: SIZE,
      prefix,
      region,
      sites: ['line-1'],
      hardwareTypes: ['rpi4'],
      firmwareVersion: '1.0.0',
      telemetry: {
        stateDir,
        behaviours: Object.fromEntries(Object.entries(drifting).map(([d, { behaviour }]) => [d, behaviour])),
        // Time is compressed: two-second windows of ten samples, each sent as it closes.
        leakMiBPerMinute: 600,
        windowSeconds: 2,
        sampleEverySeconds: 0.2,
        sendEverySeconds: 2,
      },
    });
    await fleet.start();

    const cohortQuery = `devices?region=${region}&site=line-1&hardwareType=rpi4&version=1.0.0&limit=100`;
    const cohortDevices = async () => {
      const { status, body } = await api('viewer').request<{ items: DeviceBody[] }>('GET', cohortQuery);
      if (status !== 200) throw new Error(`GET ${cohortQuery}: ${status} ${JSON.stringify(body)}`);
      return body.items;
    };
    let flagged: DeviceBody[] = [];
    for (let run = 1; run <= MAX_RUNS; run++) {
      // Every device has sent a window since the previous run.
      const since = Date.now();
      await eventually(async () => {
        const devices = await cohortDevices();
        return devices.length === SIZE && devices.every((d) => d.healthAt && Date.parse(d.healthAt) > since)
          ? true
          : undefined;
      }, 60_000);
      await runAnalysis();
      flagged = (await cohortDevices()).filter((d) => d.anomaly !== null);
      if (flagged.length >= 3) break;
    }

    expect(Object.fromEntries(flagged.map((d) => [d.deviceId, d.anomaly?.metric]))).toEqual(
      Object.fromEntries(Object.entries(drifting).map(([d, { metric }]) => [d, metric])),
    );
    for (const device of flagged) expect(device.anomaly?.score).toBeGreaterThan(3.5);
    const { body } = await api('viewer').request<{ items: { deviceId: string; metric: string }[] }>(
      'GET',
      'fleet/anomalies?limit=100',
    );
    expect(
      body.items
        .filter((a) => a.deviceId.startsWith(prefix))
        .map((a) => a.deviceId)
        .sort(),
    ).toEqual(Object.keys(drifting).sort());
  }, 900_000);
});
