/**
 * Telemetry ingestion through the real path: N simulated devices (default 1000) on local AWS send
 * telemetry (5 s windows of a sample a second, a batch of two windows every 10 s each: N/10
 * messages a second) over MQTT → IoT rule → SQS → the telemetry Lambda → DynamoDB and the S3
 * history. After start-up and a warm-up it measures, for `--seconds` (default 120):
 *
 * - messages and windows the devices published (their `telemetry.stats`) and ingested (the
 *   telemetry Lambda's own log line per message, `Telemetry batch` with its outcome);
 * - telemetry Lambda invocations (`REPORT` lines), per published message, and records each took;
 * - the telemetry queue's backlog at the end, the dead-letter queue, MiniStack's CPU and memory;
 * - the alert path: one event alert raised on 10 devices halfway through, publish → ALERT item
 *   (its `receivedAt`) and → visible in `GET /devices/{id}/telemetry` (polled every second).
 *
 * Then the devices stop sending and the queue drains; a message is lost if a device had it
 * acknowledged (PUBACK) but no invocation recorded it. Devices are compared by sequence number:
 * each window has one, so "published" is exactly the range a device had acknowledged between the
 * start of the measurement and the stop.
 *
 * If the queue does not drain within `--drain-timeout` (default 300 s), what is still queued is
 * reported instead of a loss figure, with the rate at which the drain went.
 *
 * Run: `npm run bench -- telemetry-ingest 1000 --seconds=120 [--send-every=10] [--warmup=20]`
 * (opt-in: it takes minutes). Ctrl-C stops everything it started.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { DeviceAgent } from '../device/device-agent';
import type { OperatorApiClient } from '../operator-client/operator-api-client';
import { bringUpLocalEdgeOps } from '../scripts/local-aws/environment';
import { localClientConfig } from '../scripts/local-aws/ministack';
import { shutdownOnSignals } from '../scripts/local-aws/shutdown';
import {
  cpuSecondsOf,
  type LogLine,
  logGroupsMatching,
  logLines,
  memoryOf,
  queueDepth,
} from './local-aws-figures';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const value = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const parsed = value === undefined ? fallback : Number(value);
  if (!(parsed >= 0)) throw new Error(`--${name} must be a number of seconds, not ${value}`);
  return parsed;
};
const size = Number(args.find((a) => /^\d+$/.test(a)) ?? 1000);
const measureSeconds = flag('seconds', 120);
const warmUpSeconds = flag('warmup', 20);
/** Longest the queue may take to drain once the devices stop sending. */
const drainTimeoutSeconds = flag('drain-timeout', 300);
/** Each device sends a batch every `--send-every` seconds (default 10: N/10 messages a second). */
const TELEMETRY = { windowSeconds: 5, sampleEverySeconds: 1, sendEverySeconds: flag('send-every', 10) };
const ALERTED_DEVICES = 10;

const started = Date.now();
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const shutdown = shutdownOnSignals(log);
const pause = (ms: number) => sleep(ms, undefined, { signal: shutdown.signal });

/** What one device had sent by now: acknowledged batches and windows, and the last seq acknowledged. */
interface SentSoFar {
  readonly batches: number;
  readonly windows: number;
  /** Windows carry consecutive seqs; everything up to here got its PUBACK (-1: none yet). */
  readonly acknowledgedThrough: number;
  readonly dropped: number;
}

function sentSoFar(agents: readonly DeviceAgent[]): Map<string, SentSoFar> {
  const sent = new Map<string, SentSoFar>();
  for (const agent of agents) {
    const stats = agent.telemetry?.stats;
    if (!stats) continue;
    sent.set(agent.deviceId, {
      batches: stats.batchesSent,
      windows: stats.windowsSent,
      acknowledgedThrough: stats.nextSeq - stats.pendingWindows - 1,
      dropped: stats.droppedWindows,
    });
  }
  return sent;
}

function sumOf(sent: Map<string, SentSoFar>, field: 'batches' | 'windows' | 'dropped') {
  let total = 0;
  for (const device of sent.values()) total += device[field];
  return total;
}

/** One `Telemetry batch` log line of the handler (telemetry-batch.ts), or one of its refusals. */
interface BatchLine {
  readonly timestamp: number;
  readonly deviceId: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** accepted, duplicate, unknown-device, refused, failed. */
  readonly outcome: string;
}

function parseTelemetryLog(lines: readonly LogLine[]) {
  const reports: { timestamp: number; durationMs: number }[] = [];
  const batches: BatchLine[] = [];
  const otherErrors: string[] = [];
  for (const { timestamp, message } of lines) {
    if (message.startsWith('REPORT ')) {
      reports.push({ timestamp, durationMs: Number(/Duration: ([\d.]+) ms/.exec(message)?.[1] ?? 0) });
      continue;
    }
    if (!message.startsWith('{')) continue;
    let entry: Record<string, unknown>;
    try {
      entry = JSON.parse(message) as Record<string, unknown>;
    } catch {
      continue;
    }
    const text = String(entry.message ?? '');
    const outcome =
      text === 'Telemetry batch'
        ? String(entry.outcome)
        : text === 'Rejected telemetry batch'
          ? 'refused'
          : text === 'Telemetry batch of an unknown device'
            ? 'unknown-device'
            : text.startsWith('Could not record telemetry batch')
              ? 'failed'
              : undefined;
    if (outcome && typeof entry.deviceId === 'string')
      batches.push({
        timestamp,
        deviceId: entry.deviceId,
        firstSeq: Number(entry.firstSeq),
        lastSeq: Number(entry.lastSeq),
        outcome,
      });
    else if (entry.level === 'ERROR') otherErrors.push(text);
  }
  return { reports, batches, otherErrors };
}

interface AlertView {
  alertId: string;
  receivedAt: string;
}

/** Raises one event alert on `agent` and measures how long it takes to be stored and to be seen. */
async function timeAlert(api: OperatorApiClient, agent: DeviceAgent) {
  const alert = await agent.raiseAlert({
    id: 'bench-alert',
    severity: 'warning',
    message: 'raised by bench/telemetry-ingest.ts',
  });
  const deadline = alert.at + 120_000;
  while (Date.now() < deadline) {
    await pause(1000);
    // A slow or failed answer under load is one poll less, not the end of the run.
    const answer = await api
      .request<{ alerts: AlertView[] }>(
        'GET',
        `devices/${encodeURIComponent(agent.deviceId)}/telemetry?limit=5`,
        undefined,
        { signal: shutdown.signal },
      )
      .catch((error: Error) => {
        shutdown.signal.throwIfAborted();
        log(`  GET telemetry of ${agent.deviceId}: ${error.message}`);
        return undefined;
      });
    const stored =
      answer?.status === 200 ? answer.body.alerts.find((a) => a.alertId === alert.alertId) : undefined;
    if (stored)
      return { storedMs: Date.parse(stored.receivedAt) - alert.at, visibleMs: Date.now() - alert.at };
  }
  return undefined;
}

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length === 0
    ? Number.NaN
    : sorted.length % 2
      ? (sorted[middle] ?? 0)
      : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};
const round = (value: number, digits = 0) => Number(value.toFixed(digits));
/** `median / max` of some latencies, or `none` when there are none. */
const medianAndMax = (values: readonly number[]) =>
  values.length === 0 ? 'none' : `${round(median(values))} / ${round(Math.max(...values))}`;

let exitCode = 0;
try {
  log(
    `Telemetry ingestion benchmark: ${size} simulated devices, ${TELEMETRY.windowSeconds} s windows ` +
      `of a sample every ${TELEMETRY.sampleEverySeconds} s, sent every ${TELEMETRY.sendEverySeconds} s; ` +
      `measured for ${measureSeconds} s after ${warmUpSeconds} s of warm-up`,
  );
  const local = await bringUpLocalEdgeOps({
    aws: { waitScale: 0.1 },
    fleetSize: size,
    telemetry: TELEMETRY,
    analyzeEverySeconds: 0,
    log,
    signal: shutdown.signal,
  });
  const peak = { emulator: 0, workers: 0 };
  const sampler = setInterval(() => {
    const m = memoryOf(local.aws.processes());
    peak.emulator = Math.max(peak.emulator, m.emulator);
    peak.workers = Math.max(peak.workers, m.workers);
  }, 1000);
  try {
    const readySeconds = (Date.now() - started) / 1000;
    log(`Ready: ${size} devices registered and connected in ${readySeconds.toFixed(0)} s`);
    const logs = new CloudWatchLogsClient(localClientConfig(local.aws));
    const sqs = new SQSClient(localClientConfig(local.aws));
    const agents = local.fleet.agents;
    log(`Warm-up: ${warmUpSeconds} s ...`);
    await pause(warmUpSeconds * 1000);

    // Measuring: from t0 to t1.
    const t0 = Date.now();
    const sent0 = sentSoFar(agents);
    const cpu0 = cpuSecondsOf(local.aws.processes());
    const ownCpu0 = process.cpuUsage();
    const dlq0 = (await queueDepth(sqs, /DeadLetters/)).waiting;
    const backlog0 = await queueDepth(sqs, /TelemetryQueue/);
    peak.emulator = 0;
    peak.workers = 0;
    log(`Measuring for ${measureSeconds} s ...`);
    const step = Math.max(1, Math.floor(agents.length / ALERTED_DEVICES));
    const alerted = agents.filter((_, i) => i % step === 0).slice(0, ALERTED_DEVICES);
    const alertTimes = pause((measureSeconds * 1000) / 2).then(() => {
      log(`Raising an alert on ${alerted.length} devices ...`);
      return Promise.all(alerted.map((agent) => timeAlert(local.api, agent)));
    });
    let progress = 0;
    const ticker = setInterval(() => {
      progress += 30;
      const now = sentSoFar(agents);
      log(`  ${progress} s: ${sumOf(now, 'batches') - sumOf(sent0, 'batches')} messages published`);
    }, 30_000);
    await pause(measureSeconds * 1000).finally(() => clearInterval(ticker));
    const t1 = Date.now();
    const seconds = (t1 - t0) / 1000;
    const sent1 = sentSoFar(agents);
    const cpu1 = cpuSecondsOf(local.aws.processes());
    const ownCpu = process.cpuUsage(ownCpu0);
    const backlog = await queueDepth(sqs, /TelemetryQueue/);
    const peakMeasured = { ...peak };
    log(`Measured. Telemetry queue: ${backlog.waiting} waiting, ${backlog.inFlight} in flight`);
    const alertResults = await alertTimes;

    // Drain: the devices stop sending; whatever they had acknowledged must arrive.
    log('Stopping the devices’ telemetry and draining the telemetry queue ...');
    await Promise.all(agents.map((agent) => agent.telemetry?.stop()));
    const sentEnd = sentSoFar(agents);
    const drainStarted = Date.now();
    let depth = await queueDepth(sqs, /TelemetryQueue/);
    while (depth.waiting + depth.inFlight > 0 && Date.now() - drainStarted < drainTimeoutSeconds * 1000) {
      await pause(2000);
      depth = await queueDepth(sqs, /TelemetryQueue/);
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    const drained = depth.waiting + depth.inFlight === 0;
    // The last invocation's log lines land as it returns, just after its messages leave the queue.
    await pause(5000);
    const dlqEnd = (await queueDepth(sqs, /DeadLetters/)).waiting;

    const [group] = await logGroupsMatching(logs, /DeviceGatewayTelemetryFunction/);
    if (!group) throw new Error('No log group of the telemetry function');
    // A batch in flight at t0 may have been recorded just before it.
    const parsed = parseTelemetryLog(await logLines(logs, group, { startTime: t0 - 60_000 }));
    const inWindow = (line: { timestamp: number }) => line.timestamp >= t0 && line.timestamp <= t1;
    const inDrain = (line: { timestamp: number }) => line.timestamp >= drainStarted;
    const acceptedInDrain = parsed.batches.filter((b) => inDrain(b) && b.outcome === 'accepted').length;
    const invocations = parsed.reports.filter(inWindow);
    const linesInWindow = parsed.batches.filter(inWindow);
    const acceptedInWindow = linesInWindow.filter((b) => b.outcome === 'accepted');
    const windowsOf = (b: BatchLine) => b.lastSeq - b.firstSeq + 1;
    const publishedMessages = sumOf(sent1, 'batches') - sumOf(sent0, 'batches');
    const publishedWindows = sumOf(sent1, 'windows') - sumOf(sent0, 'windows');

    // Lost: acknowledged by the broker between t0 and the stop, never recorded.
    const stored = new Set<string>();
    let storedWindows = 0;
    for (const line of parsed.batches) {
      const from = sent0.get(line.deviceId)?.acknowledgedThrough;
      const to = sentEnd.get(line.deviceId)?.acknowledgedThrough;
      if (from === undefined || to === undefined || line.firstSeq <= from || line.lastSeq > to) continue;
      if (line.outcome !== 'accepted' && line.outcome !== 'duplicate') continue;
      const key = `${line.deviceId}#${line.firstSeq}`;
      if (stored.has(key)) continue;
      stored.add(key);
      storedWindows += windowsOf(line);
    }
    let acknowledgedWindows = 0;
    for (const [deviceId, end] of sentEnd)
      acknowledgedWindows += end.acknowledgedThrough - (sent0.get(deviceId)?.acknowledgedThrough ?? -1);
    const acknowledgedMessages = sumOf(sentEnd, 'batches') - sumOf(sent0, 'batches');
    const outcomes: Record<string, number> = {};
    for (const line of linesInWindow) outcomes[line.outcome] = (outcomes[line.outcome] ?? 0) + 1;

    const timed = alertResults.filter((r) => r !== undefined);
    const storedMs = timed.map((r) => r.storedMs);
    const visibleMs = timed.map((r) => r.visibleMs);
    const slowest = Math.max(0, ...invocations.map((r) => r.durationMs));

    console.log(
      `\nTelemetry ingestion, ${size} devices, ${round(seconds)} s measured ` +
        `(2 cores; local AWS = MiniStack; devices in this process)`,
    );
    console.table([
      { figure: 'devices', value: size },
      { figure: 'start to ready (s)', value: round(readySeconds) },
      { figure: 'messages published /s', value: round(publishedMessages / seconds, 1) },
      { figure: 'windows published /s', value: round(publishedWindows / seconds, 1) },
      { figure: 'messages ingested /s', value: round(acceptedInWindow.length / seconds, 1) },
      {
        figure: 'windows ingested /s',
        value: round(acceptedInWindow.reduce((n, b) => n + windowsOf(b), 0) / seconds, 1),
      },
      { figure: 'telemetry Lambda invocations', value: invocations.length },
      {
        figure: 'invocations per telemetry message',
        value: round(invocations.length / Math.max(1, publishedMessages), 3),
      },
      {
        figure: 'records per invocation',
        value: round(linesInWindow.length / Math.max(1, invocations.length), 1),
      },
      {
        figure: 'invocation duration median / max (ms)',
        value: `${round(median(invocations.map((r) => r.durationMs)))} / ${round(slowest)}`,
      },
      {
        figure: 'telemetry queue at start: waiting / in flight',
        value: `${backlog0.waiting} / ${backlog0.inFlight}`,
      },
      {
        figure: 'telemetry queue at end: waiting / in flight',
        value: `${backlog.waiting} / ${backlog.inFlight}`,
      },
      {
        figure: `drain after the devices stopped (s)${drained ? '' : ', gave up'}`,
        value: round(drainSeconds),
      },
      { figure: 'messages ingested /s while draining', value: round(acceptedInDrain / drainSeconds, 1) },
      { figure: 'still queued after the drain', value: depth.waiting + depth.inFlight },
      { figure: 'dead-letter messages (new)', value: dlqEnd - dlq0 },
      { figure: 'messages acknowledged, t0 to stop', value: acknowledgedMessages },
      { figure: 'messages of those stored', value: stored.size },
      {
        figure: 'messages lost (acknowledged − stored)',
        value: drained ? acknowledgedMessages - stored.size : 'not drained',
      },
      {
        figure: 'windows lost (acknowledged − stored)',
        value: drained ? acknowledgedWindows - storedWindows : 'not drained',
      },
      { figure: 'windows dropped on devices (buffer cap)', value: sumOf(sentEnd, 'dropped') },
      {
        figure: `alert → ALERT item median / max (ms), ${storedMs.length}/${alerted.length}`,
        value: medianAndMax(storedMs),
      },
      {
        figure: 'alert → visible in the API median / max (ms, 1 s polls)',
        value: medianAndMax(visibleMs),
      },
      { figure: 'MiniStack CPU while measuring (s)', value: round(cpu1.emulator - cpu0.emulator, 1) },
      {
        figure: 'MiniStack CPU while measuring (% of one core)',
        value: round(((cpu1.emulator - cpu0.emulator) / seconds) * 100),
      },
      {
        figure: 'fleet process CPU while measuring (% of one core)',
        value: round(((ownCpu.user + ownCpu.system) / 1e6 / seconds) * 100),
      },
      { figure: 'peak RSS while measuring, MiniStack (MB)', value: Math.round(peakMeasured.emulator) },
      { figure: 'peak RSS while measuring, Lambda workers (MB)', value: Math.round(peakMeasured.workers) },
    ]);
    console.log(
      `Handler outcomes while measuring: ${
        Object.entries(outcomes)
          .map(([o, n]) => `${o} ${n}`)
          .join(', ') || 'none'
      }`,
    );
    if (parsed.otherErrors.length > 0)
      console.log(`Other errors logged: ${parsed.otherErrors.slice(0, 5).join(' | ')}`);
    const lost = acknowledgedMessages - stored.size;
    if (lost !== 0 || dlqEnd > dlq0 || storedMs.length < alerted.length || !drained) exitCode = 1;
    log(`Done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    clearInterval(sampler);
    await local.stop();
  }
} catch (error) {
  if (!shutdown.signal.aborted) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    exitCode = 1;
  }
}
process.exit(shutdown.signal.aborted ? 130 : exitCode);
