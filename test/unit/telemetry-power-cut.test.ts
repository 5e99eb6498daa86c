/**
 * A power cut at every telemetry write point: whatever the cut, the backend (which keeps each
 * (device, firstSeq) once) counts no window twice and misses none that got a seq, and no seq ever
 * names two different windows.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  decodeTelemetryBatch,
  TELEMETRY_TOPIC,
  TelemetryBatchV1,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import { DeviceAgent } from '../../device/device-agent';
import type { MetricSampler, Sample } from '../../device/telemetry/system-sampler';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const THING = 'gw-cut-1';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

const sampler: MetricSampler = {
  async sample(now: number): Promise<Sample> {
    return {
      metrics: { 'cpu.percent': (now / 10_000) % 13, 'temperature.celsius': 40 + ((now / 60_000) % 5) },
      health: 'healthy',
    };
  },
};

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** What the backend keeps: the first batch per firstSeq. */
function backendView(core: InMemoryIotCore) {
  const kept = new Map<number, TelemetryWindowV1[]>();
  const everySeq = new Map<number, string>();
  for (const message of core.deviceMessages.filter((m) => m.topic === TELEMETRY_TOPIC(THING))) {
    const batch = TelemetryBatchV1.parse(JSON.parse(message.payload));
    const decoded = decodeTelemetryBatch(batch);
    if (!decoded.ok) throw new Error(decoded.reason);
    for (const window of decoded.windows) {
      const seen = everySeq.get(window.seq);
      const content = JSON.stringify({ ...window, dropped: undefined });
      if (seen !== undefined && seen !== content) throw new Error(`seq ${window.seq} names two windows`);
      everySeq.set(window.seq, content);
    }
    if (!kept.has(batch.firstSeq)) kept.set(batch.firstSeq, [...decoded.windows]);
  }
  return [...kept.values()].flat().map((window) => window.seq);
}

async function runWithCutAt(cutAt: number): Promise<{ cut: boolean; counted: number[] }> {
  const core = new InMemoryIotCore();
  const stateDir = await mkdtemp(join(tmpdir(), 'telemetry-cut-'));
  dirs.push(stateDir);
  let now = T0;
  let writes = 0;
  let cut = false;
  const agent = (beforeWrite?: (path: string) => void) =>
    new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      telemetry: {
        stateDir,
        sampler,
        clock: () => now,
        manual: true,
        // The behaviour under test, not the defaults: one-minute windows of six samples.
        windowSeconds: 60,
        sampleEverySeconds: 10,
        fsync: false,
        sendEverySeconds: 120,
        publishTimeoutMs: 200,
        beforeWrite,
      },
    });
  const first: DeviceAgent = agent((path) => {
    if (cut || ++writes !== cutAt) return;
    cut = true;
    void first.crash();
    throw new Error(`power cut before writing ${path}`);
  });
  await first.start().catch(() => {});
  for (let step = 0; step < 60 && !cut; step++) {
    now += 10_000;
    await first.telemetry?.tick().catch(() => {});
  }
  if (!cut) await first.stop().catch(() => {});

  // It comes back with the link down for a few minutes: windows close before the first send.
  const second = agent();
  core.setReachable(THING, false);
  const starting = second.start();
  while (!second.telemetry?.running) await new Promise((resolve) => setImmediate(resolve));
  for (let step = 0; step < 30; step++) {
    now += 10_000;
    await second.telemetry.tick();
  }
  core.setReachable(THING, true);
  await starting;
  for (let step = 0; step < 60; step++) {
    now += 10_000;
    await second.telemetry?.tick();
  }
  await second.stop();
  return { cut, counted: backendView(core) };
}

describe('telemetry power cuts', () => {
  it('counts no window twice and reuses no seq, whatever write the power cut hits', async () => {
    let cuts = 0;
    for (let cutAt = 1; ; cutAt++) {
      const { cut, counted } = await runWithCutAt(cutAt);
      // Every write point of the first run was cut once; the run past the last one cuts nothing.
      if (!cut) break;
      cuts++;
      expect(new Set(counted).size, `cut at write ${cutAt}`).toBe(counted.length);
      // Nor is one lost: the window whose append was cut never got its seq, so the seqs the
      // backend counts run without a gap.
      expect(counted, `cut at write ${cutAt}`).toEqual(counted.map((_, i) => i));
      expect(counted.length, `cut at write ${cutAt}`).toBeGreaterThan(10);
    }
    expect(cuts).toBeGreaterThan(15);
  }, 120_000);
});
