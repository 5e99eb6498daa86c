/**
 * Bytes upstream per device-day: what one device sends for the same sampling (the 8 system
 * metrics every 5 s, the agent's default: 17,280 samples a day), in four ways:
 *
 * - (a) raw: one JSON message per sample;
 * - (b) raw, batched and compressed as our batches are (every 300 s, the samples as a JSON array,
 *   deflate-raw level 9, base64 in a JSON envelope);
 * - (c) ours: the real WindowAggregator (the agent's default 300 s windows) and
 *   `encodeTelemetryBatch`, sent every 300 s; and the same with 60 s windows (five a batch);
 * - (c') ours on a metered link outside the policy's windows (cut to ESSENTIAL_METRICS);
 * - (c'') ours after a day offline: the same windows in batches of 120.
 *
 * Each message also pays its MQTT 5 PUBLISH framing (fixed header, topic, packet id, properties
 * length). TCP/TLS framing and the broker's PUBACKs (downstream) are left out: they add about the
 * same per message to every row, and favour the rows with fewer messages further.
 *
 * A window costs the same whatever the sampling rate (six numbers per metric), while raw samples
 * grow with it: the second table repeats the day at other rates. With 60 s windows at a sample
 * every 10 s, a window holds as many numbers as the six raw samples it replaces, so only the
 * framing and compression win (about 87 %): that is why the agent's default window is 300 s.
 * Run: `npm run bench -- telemetry-bytes`.
 */
import { deflateRawSync } from 'node:zlib';
import {
  ESSENTIAL_METRICS,
  encodeTelemetryBatch,
  MAX_WINDOWS_PER_BATCH,
  SYSTEM_METRICS,
  TELEMETRY_TOPIC,
  type TelemetryWindowV1,
} from '../contract/telemetry';
import { cutToEssentials } from '../device/telemetry/telemetry-outbox';
import { type Sample, WindowAggregator } from '../device/telemetry/window-aggregator';

const DEVICE_ID = 'gateway-000042';
const TOPIC = TELEMETRY_TOPIC(DEVICE_ID);
const SAMPLE_EVERY_S = 5;
const WINDOW_S = 300;
const SHORT_WINDOW_S = 60;
const SEND_EVERY_S = 300;
const DAY_S = 86_400;
const START = Date.UTC(2026, 10, 27);
const GOAL_REDUCTION = 95;

/** Deterministic values that move like a real gateway's (mulberry32). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function samples(sampleEverySeconds: number): { at: number; sample: Sample }[] {
  const next = random(42);
  const out: { at: number; sample: Sample }[] = [];
  let memory = 412;
  let temperature = 51;
  const step = Math.sqrt(sampleEverySeconds / SAMPLE_EVERY_S);
  for (let t = 0; t < DAY_S; t += sampleEverySeconds) {
    memory = Math.max(300, memory + (next() - 0.5) * 2 * step);
    temperature = Math.min(85, Math.max(35, temperature + (next() - 0.5) * 0.4 * step));
    out.push({
      at: START + t * 1000,
      sample: {
        health: 'healthy',
        metrics: {
          [SYSTEM_METRICS.cpu]: Math.round((8 + next() * 30) * 100) / 100,
          [SYSTEM_METRICS.memory]: Math.round(memory * 100) / 100,
          [SYSTEM_METRICS.memoryPercent]: Math.round((memory / 3906) * 10_000) / 100,
          [SYSTEM_METRICS.disk]: Math.round((41 + t / DAY_S) * 100) / 100,
          [SYSTEM_METRICS.temperature]: Math.round(temperature * 10) / 10,
          [SYSTEM_METRICS.uptime]: 3_600 + t,
          [SYSTEM_METRICS.restarts]: next() < 0.0005 / step ** 2 ? 1 : 0,
          [SYSTEM_METRICS.reconnects]: next() < 0.001 / step ** 2 ? 1 : 0,
        },
      },
    });
  }
  return out;
}

/** MQTT 5 PUBLISH, QoS 1: fixed header + remaining length + topic + packet id + properties length. */
function publishBytes(payloadBytes: number): { total: number; overhead: number } {
  const variableHeader = 2 + Buffer.byteLength(TOPIC) + 2 + 1;
  const remaining = variableHeader + payloadBytes;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const overhead = 1 + lengthBytes + variableHeader;
  return { total: overhead + payloadBytes, overhead };
}

interface Row {
  way: string;
  messages: number;
  payloadBytes: number;
  overheadBytes: number;
}

function rowOf(way: string, payloads: readonly string[]): Row {
  let payloadBytes = 0;
  let overheadBytes = 0;
  for (const payload of payloads) {
    const bytes = Buffer.byteLength(payload);
    payloadBytes += bytes;
    overheadBytes += publishBytes(bytes).overhead;
  }
  return { way, messages: payloads.length, payloadBytes, overheadBytes };
}

/** One device-day sampled every `sampleEverySeconds`, sent each of the ways. */
function deviceDay(sampleEverySeconds: number): { day: number; windows: number; rows: Row[] } {
  const day = samples(sampleEverySeconds);

  // (a) One message per sample.
  const raw = day.map(({ at, sample }) =>
    JSON.stringify({ ts: at, health: sample.health, metrics: sample.metrics }),
  );

  // (b) The same samples every 300 s, compressed as our batches are.
  const rawBatched: string[] = [];
  const perSend = SEND_EVERY_S / sampleEverySeconds;
  for (let i = 0; i < day.length; i += perSend) {
    const chunk = day
      .slice(i, i + perSend)
      .map(({ at, sample }) => ({ ts: at, health: sample.health, metrics: sample.metrics }));
    const data = deflateRawSync(Buffer.from(JSON.stringify(chunk)), { level: 9 }).toString('base64');
    rawBatched.push(JSON.stringify({ v: 1, encoding: 'deflate-raw+base64', count: chunk.length, data }));
  }

  // (c) Our aggregates: the real aggregator and encoder.
  const windowsOf = (windowSeconds: number) => {
    const aggregator = new WindowAggregator(windowSeconds);
    const windows: TelemetryWindowV1[] = [];
    const close = (closed: ReturnType<WindowAggregator['closeDue']>) => {
      if (closed) windows.push({ seq: windows.length, ...closed });
    };
    for (const { at, sample } of day) close(aggregator.add(at, sample, '1.4.2'));
    close(aggregator.closeDue(START + DAY_S * 1000));
    return windows;
  };
  const windows = windowsOf(WINDOW_S);
  const shortWindows = windowsOf(SHORT_WINDOW_S);

  const routine = (list: readonly TelemetryWindowV1[], windowSeconds = WINDOW_S) => {
    const payloads: string[] = [];
    const perBatch = SEND_EVERY_S / windowSeconds;
    for (let i = 0; i < list.length; i += perBatch)
      payloads.push(JSON.stringify(encodeTelemetryBatch(list.slice(i, i + perBatch))));
    return payloads;
  };
  const ours = routine(windows);
  const oursShort = routine(shortWindows, SHORT_WINDOW_S);
  const oursMetered = routine(windows.map(cutToEssentials));
  const backlog: string[] = [];
  for (let i = 0; i < shortWindows.length; i += MAX_WINDOWS_PER_BATCH)
    backlog.push(JSON.stringify(encodeTelemetryBatch(shortWindows.slice(i, i + MAX_WINDOWS_PER_BATCH))));

  return {
    day: day.length,
    windows: windows.length,
    rows: [
      rowOf('(a) raw, 1 message per sample', raw),
      rowOf('(b) raw, batched + deflated every 300 s', rawBatched),
      rowOf('(c) ours: 300 s aggregates every 300 s', ours),
      rowOf(`(c') ours, metered (${ESSENTIAL_METRICS.length} essentials)`, oursMetered),
      rowOf('(c60) ours: 60 s aggregates every 300 s', oursShort),
      rowOf("(c'') ours: 60 s windows, a day's backlog (120/batch)", backlog),
    ],
  };
}

const { day, windows, rows } = deviceDay(SAMPLE_EVERY_S);
const totalOf = (row: Row) => row.payloadBytes + row.overheadBytes;
const [a, b, c] = rows.map(totalOf) as [number, number, number];
const percentFewer = (ours: number, than: number) => Math.round((1 - ours / than) * 1000) / 10;

console.log(
  `Telemetry bytes upstream per device-day (bench/telemetry-bytes.ts): ${Object.keys(SYSTEM_METRICS).length} metrics every ${SAMPLE_EVERY_S} s = ${day} samples, ${windows} windows`,
);
console.table(
  rows.map((row) => ({
    way: row.way,
    messages: row.messages,
    'payload KB': Math.round(row.payloadBytes / 102.4) / 10,
    'MQTT framing KB': Math.round(row.overheadBytes / 102.4) / 10,
    'total KB/day': Math.round(totalOf(row) / 102.4) / 10,
    'change vs (a) %': -percentFewer(totalOf(row), a) || 0,
    'change vs (b) %': -percentFewer(totalOf(row), b) || 0,
    'GB/month per 10k devices': Math.round(((totalOf(row) * 30 * 10_000) / 1e9) * 10) / 10,
  })),
);
const reduction = percentFewer(c, a);
const versusBatched = percentFewer(c, b);
console.log(
  `Ours: ${reduction} % fewer bytes than (a) raw samples (goal ≥ ${GOAL_REDUCTION} %: ${reduction >= GOAL_REDUCTION ? 'met' : 'not met'} at this rate); ` +
    `${Math.abs(versusBatched)} % ${versusBatched >= 0 ? 'fewer' : 'more'} than (b) raw samples batched and compressed the same way.`,
);

// Aggregates cost the same whatever the sampling rate; raw samples grow with it.
const sweep = [1, 2, 5, 10, 20].map((seconds) => {
  const day = deviceDay(seconds);
  const [rawRow, batchedRow, oursRow] = day.rows.map(totalOf) as [number, number, number];
  return {
    'sample every s': seconds,
    'samples/window': WINDOW_S / seconds,
    '(a) raw KB/day': Math.round(rawRow / 1024),
    '(b) batched KB/day': Math.round(batchedRow / 1024),
    '(c) ours KB/day': Math.round(oursRow / 1024),
    'ours vs (a) %': -percentFewer(oursRow, rawRow) || 0,
    'ours vs (b) %': -percentFewer(oursRow, batchedRow) || 0,
  };
});
console.log(
  `The same device-day at other sampling rates (${WINDOW_S} s windows, sent every ${SEND_EVERY_S} s):`,
);
console.table(sweep);
