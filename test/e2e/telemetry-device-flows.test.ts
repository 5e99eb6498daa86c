/**
 * Telemetry from a real agent through real AWS IoT (local), end to end: a day offline delivered
 * in order without flooding, and alerts that skip the queue.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  ALERT_TOPIC,
  SYSTEM_METRICS,
  TELEMETRY_TOPIC,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import type { MqttConnection, MqttConnector } from '../../device/cloud/mqtt-connection';
import { MqttJsConnection } from '../../device/cloud/mqtt-js-connection';
import { DeviceAgent } from '../../device/device-agent';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { NetworkSwitch } from '../../simulator/network-switch';
import { api, context, eventually, profile, uniqueId } from './support';

const dirs: string[] = [];
const agents: DeviceAgent[] = [];
const documents = () => DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(context())));

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** What the device published, in order, with the device clock's time. */
interface Published {
  readonly topic: string;
  readonly at: number;
  readonly payload: string;
}

/** A connector whose sessions record every telemetry and alert publish the broker acknowledged. */
function recording(inner: MqttConnector, clock: () => number, log: Published[]): MqttConnector {
  return () => {
    const session = inner();
    return new Proxy(session, {
      get(target, property, receiver) {
        if (property === 'publish')
          return async (topic: string, payload: string, qos: 0 | 1) => {
            await target.publish(topic, payload, qos);
            if (topic.endsWith('/telemetry') || topic.endsWith('/alerts'))
              log.push({ topic, at: clock(), payload });
          };
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    }) as MqttConnection;
  };
}

async function registeredDevice() {
  const registration = await api('operator').registerDevice(profile(uniqueId('tel')));
  const identity = { deviceId: registration.device.deviceId, ...registration.credentials };
  return { deviceId: identity.deviceId, connector: () => new MqttJsConnection(identity, context().mqtt) };
}

/** The windows the backend kept for a device, from its `TELEMETRY#` items (every page). */
async function storedWindows(deviceId: string): Promise<TelemetryWindowV1[]> {
  const windows: TelemetryWindowV1[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documents().send(
      new QueryCommand({
        TableName: context().outputs.FleetTableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :telemetry)',
        ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}`, ':telemetry': 'TELEMETRY#' },
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) windows.push(...(item.windows as TelemetryWindowV1[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return windows;
}

/** A sampler whose temperature the test sets; everything else steady. */
function controlledSampler() {
  const state = { temperature: 45 };
  return {
    state,
    sampler: {
      sample: async () => ({
        metrics: {
          [SYSTEM_METRICS.cpu]: 20,
          [SYSTEM_METRICS.memory]: 128,
          [SYSTEM_METRICS.temperature]: state.temperature,
        },
        health: 'healthy' as const,
      }),
    },
  };
}

describe('telemetry from a device', () => {
  it('delivers a day offline in order, paced, each window once, alerts first', async () => {
    const { deviceId, connector } = await registeredDevice();
    const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-telemetry-'));
    dirs.push(stateDir);
    let now = Date.UTC(2026, 10, 1, 0, 0, 0);
    const clock = () => now;
    const published: Published[] = [];
    const network = new NetworkSwitch(recording(connector, clock, published));
    const { state, sampler } = controlledSampler();
    const agent = new DeviceAgent({
      identity: { deviceId },
      connector: network.connector,
      firmwareVersion: '1.0.0',
      telemetry: {
        stateDir,
        sampler,
        manual: true,
        clock,
        fsync: false,
        windowSeconds: 60,
        sampleEverySeconds: 60,
        sendEverySeconds: 300,
        maxBatchesPerSecond: 1,
        alertRules: [{ id: 'too-hot', metric: SYSTEM_METRICS.temperature, op: '>', threshold: 80 }],
      },
    });
    agents.push(agent);
    await agent.start();
    const telemetry = agent.telemetry;
    if (!telemetry) throw new Error('no telemetry pipeline');

    // A day offline: 1440 windows of one minute pile up; it overheats in the last hour.
    network.cut();
    const offlineFrom = now;
    for (let minute = 0; minute < 24 * 60; minute++) {
      now = offlineFrom + minute * 60_000;
      if (minute === 23 * 60) state.temperature = 95;
      await telemetry.tick();
    }
    expect(telemetry.stats.pendingWindows).toBeGreaterThanOrEqual(1439);
    expect(published).toHaveLength(0);

    // Back online: the alert goes first, then the backlog, one batch per simulated second.
    await network.restore();
    for (let second = 0; second < 120 && telemetry.stats.pendingWindows > 0; second++) {
      now += 1000;
      await telemetry.tick();
    }
    await eventually(async () => (telemetry.stats.pendingWindows === 0 ? true : undefined));

    const telemetryPublishes = published.filter((p) => p.topic === TELEMETRY_TOPIC(deviceId));
    const alertPublishes = published.filter((p) => p.topic === ALERT_TOPIC(deviceId));
    expect(alertPublishes).toHaveLength(1);
    expect(published.indexOf(alertPublishes[0] as Published)).toBe(0);
    const seqs = telemetryPublishes.map((p) => (JSON.parse(p.payload) as { firstSeq: number }).firstSeq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    for (let i = 1; i < telemetryPublishes.length; i++)
      expect(
        (telemetryPublishes[i]?.at ?? 0) - (telemetryPublishes[i - 1]?.at ?? 0),
        'one batch per second at most',
      ).toBeGreaterThanOrEqual(1000);

    // The backend kept every window exactly once, and the alert.
    const windows = await eventually(async () => {
      const stored = await storedWindows(deviceId);
      return stored.length >= telemetry.stats.nextSeq ? stored : undefined;
    }, 60_000);
    const storedSeqs = windows.map((w) => w.seq).sort((a, b) => a - b);
    expect(storedSeqs).toEqual(Array.from({ length: telemetry.stats.nextSeq }, (_, i) => i));
    const view = await eventually(async () => {
      const { body } = await api('viewer').request<{ alerts: { ruleId: string; state: string }[] }>(
        'GET',
        `devices/${deviceId}/telemetry`,
      );
      return body.alerts?.some((a) => a.ruleId === 'too-hot') ? body : undefined;
    });
    expect(view.alerts[0]).toMatchObject({ ruleId: 'too-hot', state: 'raised' });
  });

  it('publishes an alert at once, while routine windows wait for their send', async () => {
    const { deviceId, connector } = await registeredDevice();
    const stateDir = mkdtempSync(join(tmpdir(), 'edgeops-e2e-telemetry-'));
    dirs.push(stateDir);
    const { state, sampler } = controlledSampler();
    const agent = new DeviceAgent({
      identity: { deviceId },
      connector,
      firmwareVersion: '1.0.0',
      // A link metered all day: alerts still go.
      metered: true,
      telemetry: {
        stateDir,
        sampler,
        fsync: false,
        windowSeconds: 5,
        sampleEverySeconds: 1,
        sendEverySeconds: 3600,
        alertRules: [{ id: 'too-hot', metric: SYSTEM_METRICS.temperature, op: '>', threshold: 80 }],
      },
    });
    agents.push(agent);
    await agent.start();
    await new Promise((resolve) => setTimeout(resolve, 6000));

    state.temperature = 99;
    const hotAt = Date.now();
    const alert = await eventually(async () => {
      const { body } = await api('viewer').request<{ alerts: { ruleId: string; at: string }[] }>(
        'GET',
        `devices/${deviceId}/telemetry`,
      );
      return body.alerts?.find((a) => a.ruleId === 'too-hot');
    }, 30_000);
    const inApiAfterMs = Date.now() - hotAt;
    console.log(
      `alert latency: sampled ${Date.parse(alert.at) - hotAt} ms after the change, in the API ${inApiAfterMs} ms after it`,
    );
    // The routine windows closed meanwhile are still waiting on the device for their hourly send.
    expect(agent.telemetry?.stats.batchesSent).toBe(0);
    expect(agent.telemetry?.stats.pendingWindows).toBeGreaterThan(0);
  });
});
