/**
 * Telemetry: what a device tells the control plane about its own health, besides OTA progress.
 *
 * - The device samples metrics, aggregates them per window at the edge (count, min, max, mean,
 *   p95, sum) and sends the windows in batches (`TelemetryBatchV1`), compressed. A batch, once
 *   formed, never changes: the device resends it whole until the broker acknowledges it, so the
 *   backend keeps each (device, `firstSeq`) once and nothing counts twice.
 * - Alerts (`AlertV1`) skip the queue: the device publishes them at once, on any link.
 *
 * Part of the contract: the device (device/telemetry/) encodes, the backend
 * (functions/device-events/) decodes and checks with the same schemas.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { VERSION_PATTERN } from './identifiers';
import * as z from './zod-mini';

export const TELEMETRY_TOPIC = (thingName: string) => `edgeops/devices/${thingName}/telemetry`;
export const ALERT_TOPIC = (thingName: string) => `edgeops/devices/${thingName}/alerts`;

/** `cpu.percent`, `memory.used_mib`, `app.queue_depth`: lower case, dot-separated, ≤ 64. */
export const METRIC_NAME_PATTERN = /^[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*$/;
export const MetricName = z
  .string()
  .check(z.maxLength(64), z.regex(METRIC_NAME_PATTERN, 'lower case words joined by dots, e.g. cpu.percent'));
export type MetricName = z.infer<typeof MetricName>;

/** The metrics the reference agent samples; a pluggable check may add its own (`app.*`). */
export const SYSTEM_METRICS = {
  /** Busy share of all cores over the sample interval, 0–100. */
  cpu: 'cpu.percent',
  /** Memory in use (total − available), MiB. Absolute, so versions compare across devices. */
  memory: 'memory.used_mib',
  memoryPercent: 'memory.percent',
  /** Used share of the filesystem holding the agent's state dir, 0–100. */
  disk: 'disk.used_percent',
  /** Hottest thermal zone, °C; absent where the host has none. */
  temperature: 'temperature.celsius',
  uptime: 'uptime.seconds',
  /** Restarts of the watched processes (the application, the agent) in the window: use `sum`. */
  restarts: 'process.restarts',
  /** MQTT reconnects in the window: use `sum`. */
  reconnects: 'link.reconnects',
} as const;

/**
 * What a device sends on a metered link outside its bandwidth policy's windows: each window cut to
 * these metrics (and marked `partial`). The other metrics of those windows are not sent.
 */
export const ESSENTIAL_METRICS: readonly string[] = [
  SYSTEM_METRICS.cpu,
  SYSTEM_METRICS.memory,
  SYSTEM_METRICS.temperature,
  SYSTEM_METRICS.restarts,
];

export const MAX_METRICS_PER_WINDOW = 32;
/** Windows in one batch, at most; the encoded batch also stays under MAX_BATCH_BYTES. */
export const MAX_WINDOWS_PER_BATCH = 120;
/** AWS IoT takes MQTT payloads up to 128 KB; a batch stays well below. */
export const MAX_BATCH_BYTES = 96 * 1024;
/** Decoded batches above this are refused (a compressed payload cannot expand without bound). */
export const MAX_DECODED_BATCH_BYTES = 1024 * 1024;

const finite = z.number().check(z.refine(Number.isFinite, 'a finite number'));

/** One metric over one window. `p95` is of the samples in the window (nearest rank). */
export const Aggregate = z.strictObject({
  count: z.number().check(z.int(), z.positive()),
  min: finite,
  max: finite,
  mean: finite,
  p95: finite,
  sum: finite,
});
export type Aggregate = z.infer<typeof Aggregate>;

export const HealthState = z.enum(['healthy', 'degraded', 'unhealthy']);
export type HealthState = z.infer<typeof HealthState>;

const epochMs = z.number().check(z.int(), z.positive());

/** One window of aggregates. `seq` counts a device's windows from 0 and is never reused. */
export const TelemetryWindowV1 = z.strictObject({
  seq: z.number().check(z.int(), z.nonnegative()),
  /** Window start, epoch milliseconds (the device's clock). */
  start: epochMs,
  seconds: z.number().check(z.int(), z.gte(1), z.lte(3600)),
  firmwareVersion: z.string().check(z.regex(VERSION_PATTERN, 'use letters, digits and . + _ -')),
  /** The application health check's latest verdict in the window. */
  health: HealthState,
  metrics: z
    .record(MetricName, Aggregate)
    .check(
      z.refine(
        (m) => Object.keys(m).length <= MAX_METRICS_PER_WINDOW,
        `at most ${MAX_METRICS_PER_WINDOW} metrics`,
      ),
    ),
  /** Cut to ESSENTIAL_METRICS (a metered link outside the policy's windows). */
  partial: z.optional(z.boolean()),
  /** Windows the device's buffer dropped (full) since the previous window it kept. */
  dropped: z.optional(z.number().check(z.int(), z.nonnegative())),
});
export type TelemetryWindowV1 = z.infer<typeof TelemetryWindowV1>;

/**
 * What a device publishes on TELEMETRY_TOPIC: consecutive windows `firstSeq`…`lastSeq` (gaps are
 * windows dropped on the device), as JSON, deflated (raw) and base64'd into `data`. JSON on the
 * outside, so the topic rule can select it and add the thing name.
 */
export const TelemetryBatchV1 = z.strictObject({
  v: z.literal(1),
  encoding: z.literal('deflate-raw+base64'),
  firstSeq: z.number().check(z.int(), z.nonnegative()),
  lastSeq: z.number().check(z.int(), z.nonnegative()),
  count: z.number().check(z.int(), z.gte(1), z.lte(MAX_WINDOWS_PER_BATCH)),
  data: z.string().check(z.minLength(1), z.maxLength(MAX_BATCH_BYTES * 2)),
});
export type TelemetryBatchV1 = z.infer<typeof TelemetryBatchV1>;

const Windows = z.array(TelemetryWindowV1).check(z.minLength(1), z.maxLength(MAX_WINDOWS_PER_BATCH));

/** Packs windows (ascending `seq`) into one batch. Throws if they do not fit in one. */
export function encodeTelemetryBatch(windows: readonly TelemetryWindowV1[]): TelemetryBatchV1 {
  const first = windows[0];
  const last = windows.at(-1);
  if (!first || !last) throw new Error('A telemetry batch needs at least one window');
  if (windows.length > MAX_WINDOWS_PER_BATCH)
    throw new Error(`A telemetry batch holds at most ${MAX_WINDOWS_PER_BATCH} windows`);
  const data = deflateRawSync(Buffer.from(JSON.stringify(windows)), { level: 9 }).toString('base64');
  const batch: TelemetryBatchV1 = {
    v: 1,
    encoding: 'deflate-raw+base64',
    firstSeq: first.seq,
    lastSeq: last.seq,
    count: windows.length,
    data,
  };
  if (telemetryBatchBytes(batch) > MAX_BATCH_BYTES)
    throw new Error(`A telemetry batch must stay under ${MAX_BATCH_BYTES} bytes`);
  return batch;
}

/** Bytes of the batch as published (its JSON). */
export const telemetryBatchBytes = (batch: TelemetryBatchV1) => Buffer.byteLength(JSON.stringify(batch));

export type DecodedTelemetryBatch =
  | { readonly ok: true; readonly windows: readonly TelemetryWindowV1[] }
  | { readonly ok: false; readonly reason: string };

/**
 * Unpacks a batch and checks every window: valid, ascending `seq` inside `firstSeq`…`lastSeq`,
 * `count` of them. A batch that fails any check is refused whole, with the reason.
 */
export function decodeTelemetryBatch(batch: TelemetryBatchV1): DecodedTelemetryBatch {
  let json: string;
  try {
    json = inflateRawSync(Buffer.from(batch.data, 'base64'), {
      maxOutputLength: MAX_DECODED_BATCH_BYTES,
    }).toString('utf8');
  } catch (error) {
    return { ok: false, reason: `data does not inflate: ${(error as Error).message}` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    return { ok: false, reason: 'data is not JSON' };
  }
  const result = Windows.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { ok: false, reason: `windows.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}` };
  }
  const windows = result.data;
  if (windows.length !== batch.count)
    return { ok: false, reason: `count is ${batch.count}, data holds ${windows.length}` };
  if (windows[0]?.seq !== batch.firstSeq || windows.at(-1)?.seq !== batch.lastSeq)
    return { ok: false, reason: 'firstSeq/lastSeq do not match the windows' };
  for (let i = 1; i < windows.length; i++)
    if ((windows[i]?.seq ?? 0) <= (windows[i - 1]?.seq ?? 0))
      return { ok: false, reason: 'window seq must ascend' };
  return { ok: true, windows };
}

/** A threshold rule the device checks on every sample; delivered through its configuration. */
export const AlertRule = z.strictObject({
  id: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, '1-32 of a-z, 0-9, _ and -')),
  metric: MetricName,
  op: z.enum(['>', '>=', '<', '<=']),
  threshold: finite,
  /** Consecutive samples past the threshold before it raises. @default 1 */
  forSamples: z._default(z.number().check(z.int(), z.gte(1), z.lte(1000)), 1),
  severity: z._default(z.enum(['critical', 'warning']), 'critical'),
});
export type AlertRule = z.input<typeof AlertRule>;
export type ParsedAlertRule = z.output<typeof AlertRule>;
export const AlertRules = z.array(AlertRule).check(z.maxLength(32));

/**
 * An alert a device publishes on ALERT_TOPIC at once. `alertId` is the device's own
 * (`<at as 13 digits>-<ruleId>-<state>`), so a resend is the same alert. `kind: 'event'` is an
 * alert the agent raises itself (a failed signature check, a security event) with a `message`.
 */
export const AlertV1 = z.strictObject({
  v: z.literal(1),
  alertId: z.string().check(z.regex(/^\d{13}-[a-z0-9][a-z0-9_-]{0,31}-(raised|cleared)$/, 'not an alert id')),
  kind: z.enum(['threshold', 'event']),
  ruleId: z.string().check(z.regex(/^[a-z0-9][a-z0-9_-]{0,31}$/)),
  state: z.enum(['raised', 'cleared']),
  severity: z.enum(['critical', 'warning']),
  at: epochMs,
  firmwareVersion: z.string().check(z.regex(VERSION_PATTERN)),
  metric: z.optional(MetricName),
  value: z.optional(finite),
  op: z.optional(z.enum(['>', '>=', '<', '<='])),
  threshold: z.optional(finite),
  message: z.optional(z.string().check(z.maxLength(500))),
});
export type AlertV1 = z.infer<typeof AlertV1>;

export const alertId = (at: number, ruleId: string, state: 'raised' | 'cleared') =>
  `${String(Math.trunc(at)).padStart(13, '0')}-${ruleId}-${state}`;

/** p95 by nearest rank of ascending `sorted` (non-empty). */
export function nearestRankP95(sorted: readonly number[]): number {
  const rank = Math.ceil(0.95 * sorted.length);
  return sorted[Math.max(0, rank - 1)] ?? Number.NaN;
}
