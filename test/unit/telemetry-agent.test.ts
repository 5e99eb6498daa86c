import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BandwidthPolicy, bandwidthPolicyShadowValue } from '../../contract/bandwidth-policy';
import {
  ALERT_TOPIC,
  type AlertRule,
  AlertV1,
  decodeTelemetryBatch,
  ESSENTIAL_METRICS,
  TELEMETRY_TOPIC,
  TelemetryBatchV1,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import type { MqttConnection, MqttConnector, QoS } from '../../device/cloud/mqtt-connection';
import { DeviceAgent } from '../../device/device-agent';
import type { MetricSampler, Sample } from '../../device/telemetry/system-sampler';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-tel-1';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

/** Eight metrics, as a real device samples them; temperature under the test's control. */
class SyntheticSampler implements MetricSampler {
  temperature = 50;
  async sample(now: number): Promise<Sample> {
    const phase = (now / 10_000) % 7;
    return {
      metrics: {
        'cpu.percent': 20 + phase,
        'memory.used_mib': 310 + phase,
        'memory.percent': 31,
        'disk.used_percent': 44,
        'temperature.celsius': this.temperature,
        'uptime.seconds': Math.floor((now - T0) / 1000),
        'app.queue_depth': phase,
      },
      health: 'healthy',
    };
  }
}

interface Published {
  readonly topic: string;
  readonly payload: string;
  readonly at: number;
}

/** The core's sessions, recording each publish with the fake clock; can swallow telemetry PUBACKs. */
class RecordingConnector {
  readonly published: Published[] = [];
  swallowTelemetryPuback = false;
  constructor(
    private readonly core: InMemoryIotCore,
    private readonly clock: () => number,
  ) {}
  connector(): MqttConnector {
    return () => {
      const session = this.core.session(THING);
      const publish = async (topic: string, payload: string, qos: QoS) => {
        // Recorded before the core sees it: the core's waitFor checks again as it receives.
        if (session.online) this.published.push({ topic, payload, at: this.clock() });
        await session.publish(topic, payload, qos);
        if (this.swallowTelemetryPuback && topic === TELEMETRY_TOPIC(THING)) await new Promise(() => {});
      };
      const connection: MqttConnection = {
        get online() {
          return session.online;
        },
        connected: () => session.connected(),
        publish,
        subscribe: (filters, qos) => session.subscribe(filters, qos),
        onMessage: (listener) => session.onMessage(listener),
        onOnline: (listener) => session.onOnline(listener),
        onOffline: (listener) => session.onOffline(listener),
        end: (force) => session.end(force),
      };
      return connection;
    };
  }
  on(topic: string): Published[] {
    return this.published.filter((p) => p.topic === topic);
  }
}

const windowsOf = (payload: string): TelemetryWindowV1[] => {
  const decoded = decodeTelemetryBatch(TelemetryBatchV1.parse(JSON.parse(payload)));
  if (!decoded.ok) throw new Error(decoded.reason);
  return [...decoded.windows];
};

let core: InMemoryIotCore;
let stateDir: string;
let now: number;
let recording: RecordingConnector;
let sampler: SyntheticSampler;
const agents: DeviceAgent[] = [];

beforeEach(async () => {
  core = new InMemoryIotCore();
  stateDir = await mkdtemp(join(tmpdir(), 'telemetry-agent-'));
  now = T0;
  recording = new RecordingConnector(core, () => now);
  sampler = new SyntheticSampler();
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await rm(stateDir, { recursive: true, force: true });
});

function startAgent(options: { metered?: boolean; alertRules?: AlertRule[]; bufferBytes?: number } = {}) {
  const agent = new DeviceAgent({
    identity: { deviceId: THING },
    connector: recording.connector(),
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    metered: options.metered,
    telemetry: {
      stateDir,
      sampler,
      clock: () => now,
      manual: true,
      // The behaviour under test, not the defaults: one-minute windows of six samples.
      windowSeconds: 60,
      sampleEverySeconds: 10,
      fsync: false,
      publishTimeoutMs: 200,
      alertRules: options.alertRules,
      bufferBytes: options.bufferBytes,
    },
  });
  agents.push(agent);
  return agent;
}

/** Moves the fake clock on in `stepSeconds` steps, ticking the pipeline at each. */
async function advance(agent: DeviceAgent, seconds: number, stepSeconds = 10) {
  for (let elapsed = 0; elapsed < seconds; elapsed += stepSeconds) {
    now += stepSeconds * 1000;
    await agent.telemetry?.tick();
  }
}

describe('DeviceAgent telemetry', () => {
  it('sends the closed windows as aggregates on its routine send, each seq once, in order', async () => {
    const agent = startAgent();
    await agent.start();

    await advance(agent, 900);

    const batches = recording.on(TELEMETRY_TOPIC(THING));
    // Every 300 s at this device's own offset: three sends in 900 s, the first maybe too early
    // for a closed window (and then it sends nothing).
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches.length).toBeLessThanOrEqual(3);
    for (let i = 1; i < batches.length; i++)
      expect((batches[i]?.at ?? 0) - (batches[i - 1]?.at ?? 0)).toBe(300_000);
    const windows = batches.flatMap((b) => windowsOf(b.payload));
    expect(windows.map((w) => w.seq)).toEqual(windows.map((_, i) => i));
    const first = windows[0] as TelemetryWindowV1;
    expect(first.start).toBe(T0);
    expect(first.firmwareVersion).toBe('1.0.0');
    // Samples at T0+10 s … T0+50 s: the tick at T0+60 s starts the next window.
    expect(first.metrics['cpu.percent']?.count).toBe(5);
    expect(first.metrics['link.reconnects']?.sum).toBe(0);
    expect(first.metrics['process.restarts']?.sum).toBe(0);
    expect(Object.keys(first.metrics)).toHaveLength(9);
    // Windows closed after the last send wait for the next one.
    expect(agent.telemetry?.stats.pendingWindows).toBe(
      (agent.telemetry?.stats.nextSeq ?? 0) - windows.length,
    );
  });

  it('resends the identical batch after a crash between publish and PUBACK, and reuses no seq', async () => {
    const first = startAgent();
    await first.start();
    recording.swallowTelemetryPuback = true;
    while (recording.on(TELEMETRY_TOPIC(THING)).length === 0 && now < T0 + 3_600_000)
      await advance(first, 10);
    const sent = recording.on(TELEMETRY_TOPIC(THING));
    expect(sent).toHaveLength(1);
    await first.crash();

    recording.swallowTelemetryPuback = false;
    const second = startAgent();
    await second.start();
    await core.waitFor(() => (recording.on(TELEMETRY_TOPIC(THING)).length > sent.length ? true : undefined));
    const resent = recording.on(TELEMETRY_TOPIC(THING))[sent.length];
    expect(resent?.payload).toBe(sent[0]?.payload);

    await advance(second, 600);
    const all = recording.on(TELEMETRY_TOPIC(THING)).slice(sent.length);
    const seqs = all.flatMap((b) => windowsOf(b.payload).map((w) => w.seq));
    expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] ?? 0) + i));
    expect(seqs[0]).toBe(0);
    // The crash is counted as a restart in the first window after it.
    const afterCrash = all.slice(1).flatMap((b) => windowsOf(b.payload));
    expect(afterCrash.reduce((total, w) => total + (w.metrics['process.restarts']?.sum ?? 0), 0)).toBe(1);
  });

  it('cuts windows to the essentials on a metered link outside the policy windows, and sends alerts there at once', async () => {
    const policy = BandwidthPolicy.parse({
      onMetered: 'wait',
      windows: [{ start: '02:00', end: '03:00' }],
      timeZone: 'UTC',
    });
    core.updateDesired(THING, { edgeops: { bandwidthPolicy: bandwidthPolicyShadowValue(policy) } });
    const agent = startAgent({
      metered: true,
      alertRules: [{ id: 'overheat', metric: 'temperature.celsius', op: '>', threshold: 80 }],
    });
    await agent.start();
    await core.waitFor(() => agent.currentBandwidthPolicy());

    await advance(agent, 300);
    sampler.temperature = 95;
    await advance(agent, 10);
    expect(recording.on(ALERT_TOPIC(THING)).map((a) => AlertV1.parse(JSON.parse(a.payload)).state)).toEqual([
      'raised',
    ]);
    await advance(agent, 300);

    const metered = recording.on(TELEMETRY_TOPIC(THING)).flatMap((b) => windowsOf(b.payload));
    expect(metered.length).toBeGreaterThan(0);
    for (const window of metered) {
      expect(window.partial).toBe(true);
      expect(Object.keys(window.metrics).every((name) => ESSENTIAL_METRICS.includes(name))).toBe(true);
    }
    expect(Object.keys(metered[0]?.metrics ?? {}).sort()).toEqual([...ESSENTIAL_METRICS].sort());

    agent.setMetered(false);
    const before = recording.on(TELEMETRY_TOPIC(THING)).length;
    await advance(agent, 300);
    const unmetered = recording
      .on(TELEMETRY_TOPIC(THING))
      .slice(before)
      .flatMap((b) => windowsOf(b.payload));
    expect(unmetered[0]?.partial).toBeUndefined();
    expect(unmetered[0]?.metrics['disk.used_percent']).toBeDefined();
  });

  it('delivers alerts raised offline before the queued telemetry on reconnect', async () => {
    const agent = startAgent({
      alertRules: [{ id: 'overheat', metric: 'temperature.celsius', op: '>', threshold: 80, forSamples: 2 }],
    });
    await agent.start();
    core.setReachable(THING, false);
    await core.waitFor(() => (agent.online ? undefined : true));

    await advance(agent, 600);
    sampler.temperature = 90;
    await advance(agent, 10);
    expect(recording.on(ALERT_TOPIC(THING))).toHaveLength(0);
    await advance(agent, 10);
    await advance(agent, 300);
    expect(agent.telemetry?.stats.pendingAlerts).toBe(1);
    expect(
      recording.published.filter((p) => p.topic !== ALERT_TOPIC(THING) && p.topic !== TELEMETRY_TOPIC(THING)),
    );

    core.setReachable(THING, true);
    await core.waitFor(() => (recording.on(TELEMETRY_TOPIC(THING)).length > 0 ? true : undefined));

    const order = recording.published
      .map((p) => p.topic)
      .filter((topic) => topic === ALERT_TOPIC(THING) || topic === TELEMETRY_TOPIC(THING));
    expect(order[0]).toBe(ALERT_TOPIC(THING));
    expect(order[1]).toBe(TELEMETRY_TOPIC(THING));
    const alert = AlertV1.parse(JSON.parse(recording.on(ALERT_TOPIC(THING))[0]?.payload ?? '{}'));
    expect(alert).toMatchObject({ ruleId: 'overheat', state: 'raised', value: 90 });
  });

  it('delivers a day offline (1440 windows) in order, paced, each seq exactly once', async () => {
    const agent = startAgent();
    await agent.start();
    core.setReachable(THING, false);
    await core.waitFor(() => (agent.online ? undefined : true));

    await advance(agent, 24 * 3600);
    const waiting = agent.telemetry?.stats.pendingWindows ?? 0;
    expect(waiting).toBe(1440);
    expect(agent.telemetry?.stats.droppedWindows).toBe(0);

    core.setReachable(THING, true);
    await core.waitFor(() => (agent.online ? true : undefined));
    for (let i = 0; i < 60 && (agent.telemetry?.stats.pendingWindows ?? 0) > 0; i++)
      await advance(agent, 1, 1);

    const batches = recording.on(TELEMETRY_TOPIC(THING));
    const seqs = batches.flatMap((b) => windowsOf(b.payload).map((w) => w.seq));
    expect(seqs.slice(0, 1440)).toEqual(Array.from({ length: 1440 }, (_, i) => i));
    expect(new Set(seqs).size).toBe(seqs.length);
    // 120 windows a batch at most: 12 batches, at least a second apart, no flood.
    expect(batches.length).toBeGreaterThanOrEqual(12);
    expect(batches.length).toBeLessThanOrEqual(13);
    for (let i = 1; i < batches.length; i++)
      expect((batches[i]?.at ?? 0) - (batches[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(1000);
  }, 60_000);

  it('keeps a day offline within the buffer cap: the oldest dropped and counted, the rest in order', async () => {
    const agent = startAgent({ bufferBytes: 256 * 1024 });
    await agent.start();
    core.setReachable(THING, false);
    await core.waitFor(() => (agent.online ? undefined : true));

    await advance(agent, 24 * 3600);
    const stats = agent.telemetry?.stats;
    expect(stats?.droppedWindows).toBeGreaterThan(0);
    expect(stats?.bufferBytes).toBeLessThanOrEqual(256 * 1024);

    core.setReachable(THING, true);
    await core.waitFor(() => (agent.online ? true : undefined));
    for (let i = 0; i < 60 && (agent.telemetry?.stats.pendingWindows ?? 0) > 0; i++)
      await advance(agent, 1, 1);

    const windows = recording.on(TELEMETRY_TOPIC(THING)).flatMap((b) => windowsOf(b.payload));
    const delivered = windows.filter((w) => w.seq < 1440);
    expect(delivered.at(-1)?.seq).toBe(1439);
    expect(delivered.map((w) => w.seq)).toEqual(delivered.map((_, i) => (delivered[0]?.seq ?? 0) + i));
    expect(delivered[0]?.dropped).toBe(stats?.droppedWindows);
    expect(delivered.length + (stats?.droppedWindows ?? 0)).toBe(1440);
  }, 60_000);

  it('publishes event alerts at once and clears a raised rule that new rules remove', async () => {
    const agent = startAgent({
      alertRules: [{ id: 'overheat', metric: 'temperature.celsius', op: '>', threshold: 80 }],
    });
    await agent.start();
    sampler.temperature = 99;
    await advance(agent, 10);

    await agent.raiseAlert({ id: 'signature-invalid', message: 'job j-1: signature-invalid: 0/1 keys' });
    await agent.setAlertRules([{ id: 'memory-high', metric: 'memory.used_mib', op: '>', threshold: 4096 }]);
    await core.waitFor(() => (recording.on(ALERT_TOPIC(THING)).length >= 3 ? true : undefined));

    const alerts = recording.on(ALERT_TOPIC(THING)).map((a) => AlertV1.parse(JSON.parse(a.payload)));
    expect(alerts.map((a) => [a.kind, a.ruleId, a.state])).toEqual([
      ['threshold', 'overheat', 'raised'],
      ['event', 'signature-invalid', 'raised'],
      ['threshold', 'overheat', 'cleared'],
    ]);
    expect(alerts[1]?.message).toBe('job j-1: signature-invalid: 0/1 keys');
    expect(agent.telemetry?.alertRules.map((rule) => rule.id)).toEqual(['memory-high']);
    await expect(
      agent.setAlertRules([{ id: 'Bad Id', metric: 'cpu.percent', op: '>', threshold: 1 }]),
    ).rejects.toThrow(/alertRules\[0\]\[id\]/);
    expect(agent.telemetry?.alertRules.map((rule) => rule.id)).toEqual(['memory-high']);
  });

  it('keeps sampling after the clock is set back (NTP after a boot with a wrong time)', async () => {
    const agent = startAgent();
    await agent.start();
    await advance(agent, 120);
    const before = agent.telemetry?.stats.nextSeq ?? 0;

    now -= 24 * 3_600_000;
    await advance(agent, 180);

    // The window open at the jump closes, and the windows after it close on the new clock.
    expect(agent.telemetry?.stats.nextSeq).toBeGreaterThanOrEqual(before + 3);
  });

  it('runs on its own timers without a manual clock', async () => {
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: recording.connector(),
      firmwareVersion: '1.0.0',
      telemetry: {
        stateDir,
        sampler,
        fsync: false,
        windowSeconds: 1,
        sampleEverySeconds: 0.2,
        sendEverySeconds: 1,
      },
    });
    agents.push(agent);
    await agent.start();

    await core.waitFor(() => (recording.on(TELEMETRY_TOPIC(THING)).length > 0 ? true : undefined), 5_000);

    const [window] = windowsOf(recording.on(TELEMETRY_TOPIC(THING))[0]?.payload ?? '');
    expect(window?.seconds).toBe(1);
    expect(window?.metrics['memory.used_mib']?.count).toBeGreaterThanOrEqual(1);
  });
});
