/**
 * Fleet run: local AWS with N simulated devices (default 1000) and a two-wave rollout of 1.1.0 to
 * all of them (10 %, then the rest), through the real stack. Prints start-to-ready time, rollout
 * time, Lambda invocations per device update and per device event, the peak memory of local AWS
 * and of its Lambda workers, and the events lost (devices whose last stage or firmware never
 * arrived, and messages in the dead-letter queue).
 *
 * Run: `npm run bench -- fleet 1000` (not part of a plain `npm run bench`: it takes minutes).
 * Ctrl-C stops everything it started.
 */
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { OperatorApiClient } from '../operator-client/operator-api-client';
import { bringUpLocalEdgeOps } from '../scripts/local-aws/environment';
import { localClientConfig } from '../scripts/local-aws/ministack';
import { shutdownOnSignals } from '../scripts/local-aws/shutdown';
import { emulatorCpuSeconds, logGroupsMatching, logLines, memoryOf, queueDepth } from './local-aws-figures';

const size = Number(process.argv.slice(2).find((a) => /^\d+$/.test(a)) ?? 1000);
const log = (line: string) =>
  console.log(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const started = Date.now();
const shutdown = shutdownOnSignals(log);

/**
 * `REPORT` lines (one per invocation, with its duration) and per-record log lines (by kind) of the
 * device-event functions.
 */
async function eventFunctionLogs(logs: CloudWatchLogsClient) {
  const counts = {
    invocations: 0,
    records: 0,
    byKind: {} as Record<string, number>,
    durationsMs: [] as number[],
  };
  // Telemetry and alerts have routes of their own (telemetry-ingest.ts counts those).
  for (const group of await logGroupsMatching(logs, /DeviceGateway(?!Telemetry|Alert)\w*Function/)) {
    for (const { message } of await logLines(logs, group)) {
      const kind =
        /"message":"(OTA event|Shadow report|Connection event|Job execution event|Rejected [^"]*)"/.exec(
          message,
        )?.[1];
      if (message.startsWith('REPORT ')) {
        counts.invocations++;
        counts.durationsMs.push(Number(/Duration: ([\d.]+) ms/.exec(message)?.[1] ?? 0));
      } else if (kind) {
        counts.records++;
        counts.byKind[kind] = (counts.byKind[kind] ?? 0) + 1;
      }
    }
  }
  return counts;
}

interface RolloutView {
  rolloutId: string;
  status: string;
  haltReason: string | null;
  waves: { wave: number; status: string; deviceCount: number; funnel?: Record<string, number> }[];
}

async function runRollout(api: OperatorApiClient) {
  const started = await api.request<{ rollout: RolloutView }>('POST', 'rollouts', {
    releaseId: 'rel-1.1.0',
    target: { filter: { currentVersion: '1.0.0' } },
    waves: [
      { percent: 10, soakSeconds: 10, successThreshold: 95, maxFailures: Math.ceil(size * 0.01) },
      { percent: 100, soakSeconds: 10, successThreshold: 95, maxFailures: Math.ceil(size * 0.05) },
    ],
  });
  if (started.status !== 201)
    throw new Error(`POST /rollouts answered ${started.status}: ${JSON.stringify(started.body)}`);
  const { rolloutId } = started.body.rollout;
  let last = '';
  for (;;) {
    shutdown.signal.throwIfAborted();
    const { body } = await api.request<RolloutView>('GET', `rollouts/${rolloutId}`);
    const line = body.waves
      .map(
        (w) =>
          `w${w.wave} ${w.status} ${Object.entries(w.funnel ?? {})
            .filter(([, n]) => n > 0)
            .map(([s, n]) => `${s}:${n}`)
            .join(' ')}`,
      )
      .join(' | ');
    if (line !== last) log(`${body.status}: ${line}`);
    last = line;
    if (!['running', 'pausing', 'paused', 'awaiting-approval'].includes(body.status)) return body;
    await new Promise((r) => setTimeout(r, 3000));
  }
}

/** Devices of the rollout whose last stage is not `healthy`, a page at a time. */
async function notHealthy(api: OperatorApiClient, rolloutId: string) {
  const stuck: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `rollouts/${rolloutId}/devices?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api.request<{
      items: { deviceId: string; stage: string }[];
      nextCursor: string | null;
    }>('GET', query);
    stuck.push(
      ...page.body.items.filter((e) => e.stage !== 'healthy').map((e) => `${e.deviceId}:${e.stage}`),
    );
    cursor = page.body.nextCursor;
  } while (cursor);
  return stuck;
}

/** Registered devices whose firmware (from their shadow reports) is not `version`. */
async function notOn(api: OperatorApiClient, version: string) {
  const behind: string[] = [];
  let cursor: string | null = null;
  do {
    const query: string = `devices?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const page = await api.request<{
      items: { deviceId: string; firmwareVersion?: string }[];
      nextCursor: string | null;
    }>('GET', query);
    behind.push(...page.body.items.filter((d) => d.firmwareVersion !== version).map((d) => d.deviceId));
    cursor = page.body.nextCursor;
  } while (cursor);
  return behind;
}

async function deadLetters(sqs: SQSClient) {
  return (await queueDepth(sqs, /DeadLetters/)).waiting;
}

let exitCode = 0;
try {
  log(`Fleet benchmark: ${size} simulated devices, a two-wave rollout of 1.1.0 to all of them`);
  const local = await bringUpLocalEdgeOps({
    aws: { waitScale: 0.1 },
    fleetSize: size,
    // The OTA path alone, as in the figures before telemetry; bench/telemetry-ingest.ts measures that.
    telemetry: false,
    analyzeEverySeconds: 0,
    log,
    signal: shutdown.signal,
  });
  const peak = { emulator: 0, workers: 0, total: 0 };
  const sampler = setInterval(() => {
    const m = memoryOf(local.aws.processes());
    peak.emulator = Math.max(peak.emulator, m.emulator);
    peak.workers = Math.max(peak.workers, m.workers);
    peak.total = Math.max(peak.total, m.emulator + m.workers);
  }, 1000);
  try {
    const readySeconds = (Date.now() - started) / 1000;
    log(`Ready: ${size} devices registered and connected in ${readySeconds.toFixed(0)} s`);
    const logs = new CloudWatchLogsClient(localClientConfig(local.aws));
    const before = await eventFunctionLogs(logs);
    const cpuBefore = emulatorCpuSeconds(local.aws.processes());
    const rolloutStarted = Date.now();
    const rollout = await runRollout(local.api);
    const rolloutSeconds = (Date.now() - rolloutStarted) / 1000;
    const rolloutCpu = emulatorCpuSeconds(local.aws.processes()) - cpuBefore;
    // Let the last events of the soak drain from the queues before counting.
    await new Promise((r) => setTimeout(r, 15_000));
    const after = await eventFunctionLogs(logs);
    const updated = rollout.waves.reduce((n, w) => n + w.deviceCount, 0);
    const stuck = await notHealthy(local.api, rollout.rolloutId);
    const behind = await notOn(local.api, '1.1.0');
    const dlq = await deadLetters(new SQSClient(localClientConfig(local.aws)));
    const invocations = after.invocations - before.invocations;
    const records = after.records - before.records;
    const byKind = Object.entries(after.byKind)
      .map(([kind, n]) => `${kind} ${n - (before.byKind[kind] ?? 0)}`)
      .join(', ');
    const slowest = Math.max(0, ...after.durationsMs) / 1000;
    console.log(`\nFleet benchmark, ${size} devices (2 cores; local AWS = MiniStack)`);
    console.table([
      { figure: 'start to ready (s)', value: Number(readySeconds.toFixed(0)) },
      { figure: `rollout (s), ${rollout.status}`, value: Number(rolloutSeconds.toFixed(0)) },
      { figure: 'devices updated', value: updated },
      { figure: 'device events ingested during the rollout', value: records },
      { figure: 'MiniStack CPU during the rollout (s)', value: Number(rolloutCpu.toFixed(0)) },
      { figure: 'event Lambda invocations', value: invocations },
      {
        figure: 'event Lambda invocations per device update',
        value: Number((invocations / Math.max(1, updated)).toFixed(2)),
      },
      {
        figure: 'device events per invocation',
        value: Number((records / Math.max(1, invocations)).toFixed(1)),
      },
      { figure: 'slowest event Lambda invocation, whole run (s)', value: Number(slowest.toFixed(1)) },
      { figure: 'peak RSS, MiniStack (MB)', value: Math.round(peak.emulator) },
      { figure: 'peak RSS, Lambda workers (MB)', value: Math.round(peak.workers) },
      { figure: 'peak RSS, both (MB)', value: Math.round(peak.total) },
      { figure: 'events lost: last stage missing', value: stuck.length },
      { figure: 'events lost: firmware report missing', value: behind.length },
      { figure: 'events lost: dead-letter messages', value: dlq },
    ]);
    console.log(`Device events during the rollout, by kind: ${byKind}`);
    if (rollout.haltReason) console.log(`Halt reason: ${rollout.haltReason}`);
    if (stuck.length > 0) console.log(`Not healthy: ${stuck.slice(0, 10).join(', ')}`);
    if (behind.length > 0) console.log(`Firmware not reported: ${behind.slice(0, 10).join(', ')}`);
    if (rollout.status !== 'succeeded' || stuck.length + behind.length + dlq > 0) exitCode = 1;
  } finally {
    clearInterval(sampler);
    await local.stop();
  }
} catch (error) {
  if (!shutdown.signal.aborted) {
    console.error(error instanceof Error ? error.message : error);
    exitCode = 1;
  }
}
process.exit(shutdown.signal.aborted ? 130 : exitCode);
