/**
 * The device's telemetry, end to end: sample → alert rules → window aggregate → on-disk buffer →
 * batch → MQTT. One per agent; it lives across MQTT sessions (and in-process reboots) and
 * publishes through whichever session is up.
 *
 * 1. Every `sampleEverySeconds` (aligned to the clock): take a sample, add the agent's own
 *    counters (`link.reconnects`, and one `process.restarts` for a previous run that ended
 *    without a clean stop), check the alert rules, feed the aggregator; a window it closes goes
 *    into the buffer with the next `seq`.
 * 2. Alerts a sample raises or clears are on disk (alert-outbox.ts) before they are published, at
 *    once, on any link (metered too), in order.
 * 3. Every `sendEverySeconds` (at a per-device offset, so a fleet does not publish in the same
 *    second), and on every reconnect, the buffer drains: waiting alerts first, then batches of
 *    the oldest windows, in order, one batch in flight, at most `maxBatchesPerSecond`. A batch is
 *    formed, cut to essentials if the link is metered outside the bandwidth policy's windows,
 *    written to disk, published (QoS 1), and only after PUBACK removed with its windows.
 * 4. Offline, nothing is published: windows pile up in the buffer (its cap drops the oldest).
 *
 * Time: a clock (`clock`) and, unless `manual`, timers. With `manual`, nothing runs on its own:
 * the caller (tests, the fleet simulator) advances its clock and calls `tick()`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ALERT_TOPIC,
  type AlertRule,
  type AlertV1,
  alertId,
  MAX_WINDOWS_PER_BATCH,
  SYSTEM_METRICS,
  TELEMETRY_TOPIC,
} from '../../contract/telemetry';
import { readJsonFile, writeJsonAtomic } from '../storage/atomic-file';
import { AlertOutbox } from './alert-outbox';
import { AlertRuleSet, parseAlertRules } from './alert-rules';
import { type AppHealthCheck, type MetricSampler, SystemSampler } from './system-sampler';
import { type BandwidthNow, cutToEssentials, essentialsOnly, TelemetryOutbox } from './telemetry-outbox';
import { WindowAggregator } from './window-aggregator';
import { WindowBuffer } from './window-buffer';

export interface TelemetryOptions {
  /** The device's state dir; telemetry keeps its files in `<stateDir>/telemetry/`. */
  readonly stateDir: string;
  /** @default a SystemSampler (Linux /proc, statfs, thermal zones) with `healthCheck` */
  readonly sampler?: MetricSampler;
  /** The application check of the default sampler. @default always healthy */
  readonly healthCheck?: AppHealthCheck;
  /** Aggregation window: 300 s sends about 97 % fewer bytes than raw samples (bench/telemetry-bytes.ts). @default 300 */
  readonly windowSeconds?: number;
  /** @default 5 (with 300 s windows, about 96 % fewer bytes than raw samples at this rate) */
  readonly sampleEverySeconds?: number;
  /** How often the buffer is sent while online. @default 300 */
  readonly sendEverySeconds?: number;
  /** Pace of a backlog. @default 1 */
  readonly maxBatchesPerSecond?: number;
  /** The buffer's cap. @default 8 MiB */
  readonly bufferBytes?: number;
  /** Threshold rules from configuration; `setAlertRules` replaces them. @default none */
  readonly alertRules?: readonly AlertRule[];
  /** @default Date.now */
  readonly clock?: () => number;
  /** No timers: the caller advances `clock` and calls `tick()`. @default false */
  readonly manual?: boolean;
  /** fsync appends and state files; off only for simulations of many devices. @default true */
  readonly fsync?: boolean;
  /** How long a publish may wait for its PUBACK. @default 15000 */
  readonly publishTimeoutMs?: number;
  /**
   * Called before each write of telemetry state with the file's path. Simulations only: throwing
   * there (after `crash()`) is a power cut at that write point.
   */
  readonly beforeWrite?: (path: string) => void;
}

/** What the agent lends the pipeline. */
export interface TelemetryHost {
  readonly deviceId: string;
  firmwareVersion(): string;
  bandwidth(): BandwidthNow;
  log(message: string): void;
}

/** Publishes with QoS 1; resolves on PUBACK, rejects when offline. */
export type QosOnePublish = (topic: string, payload: string) => Promise<void>;

export interface TelemetryStats {
  readonly pendingWindows: number;
  readonly bufferBytes: number;
  readonly droppedWindows: number;
  readonly nextSeq: number;
  readonly batchesSent: number;
  readonly windowsSent: number;
  readonly pendingAlerts: number;
  readonly alertsSent: number;
}

/** An alert the agent raises itself (`kind: 'event'`), e.g. a failed signature check. */
export interface EventAlert {
  /** 1-32 of a-z, 0-9, _ and -: what happened, e.g. `signature-invalid`. */
  readonly id: string;
  /** @default 'critical' */
  readonly severity?: 'critical' | 'warning';
  readonly message?: string;
}

const AgentRuns = z.strictObject({ starts: z.number().int().nonnegative(), running: z.boolean() });

/** After a failed publish, the next try (unless a reconnect comes first). */
const RETRY_MS = 30_000;

export class TelemetryPipeline {
  readonly #clock: () => number;
  readonly #sampleEveryMs: number;
  readonly #sendEveryMs: number;
  readonly #sendOffsetMs: number;
  readonly #batchGapMs: number;
  readonly #publishTimeoutMs: number;
  #publish: QosOnePublish | undefined;
  #nextSampleAt = 0;
  #nextSendAt: number;
  #lastBatchAt = Number.NEGATIVE_INFINITY;
  #wantDrain = false;
  #draining: Promise<void> | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #tickTimer: NodeJS.Timeout | undefined;
  #wakeTimer: NodeJS.Timeout | undefined;
  #running = false;
  #closed = false;
  #reconnects = 0;
  #pendingRestarts: number;
  #batchesSent = 0;
  #windowsSent = 0;
  #alertsSent = 0;

  private constructor(
    private readonly options: TelemetryOptions,
    private readonly host: TelemetryHost,
    private readonly dir: string,
    private readonly sampler: MetricSampler,
    private readonly aggregator: WindowAggregator,
    private readonly buffer: WindowBuffer,
    private readonly outbox: TelemetryOutbox,
    private readonly alerts: AlertOutbox,
    private readonly rules: AlertRuleSet,
    pendingRestarts: number,
    private readonly abort: AbortController,
  ) {
    this.#clock = options.clock ?? Date.now;
    this.#sampleEveryMs = (options.sampleEverySeconds ?? 5) * 1000;
    this.#sendEveryMs = (options.sendEverySeconds ?? 300) * 1000;
    this.#sendOffsetMs = offsetOf(host.deviceId, this.#sendEveryMs);
    this.#batchGapMs = 1000 / (options.maxBatchesPerSecond ?? 1);
    this.#publishTimeoutMs = options.publishTimeoutMs ?? 15_000;
    this.#nextSendAt = this.#sendSlotAfter(this.#clock());
    this.#pendingRestarts = pendingRestarts;
  }

  /** Opens (or creates) `<stateDir>/telemetry/` and recovers what a crash left. */
  static async open(options: TelemetryOptions, host: TelemetryHost): Promise<TelemetryPipeline> {
    checkOptions(options);
    const dir = join(options.stateDir, 'telemetry');
    await mkdir(dir, { recursive: true });
    const log = (message: string) => host.log(message);
    // Aborted by close() (a power cut): from then on no write lands.
    const abort = new AbortController();
    const durability = {
      fsync: options.fsync ?? true,
      signal: abort.signal,
      beforeWrite: options.beforeWrite,
    };
    const rules = parseAlertRules(options.alertRules ?? []);
    const outbox = await TelemetryOutbox.open(dir, durability, log);
    const buffer = await WindowBuffer.open({
      dir,
      capBytes: options.bufferBytes,
      ...durability,
      minNextSeq: outbox.pending ? outbox.pending.lastSeq + 1 : 0,
      log,
    });
    if (outbox.pending) buffer.setInFlightThrough(outbox.pending.lastSeq);
    const alerts = await AlertOutbox.open(dir, durability, log);
    const runs = await readJsonFile(join(dir, 'agent-runs.json'), AgentRuns);
    const sampler =
      options.sampler ??
      new SystemSampler({ stateDir: options.stateDir, healthCheck: options.healthCheck, log });
    return new TelemetryPipeline(
      options,
      host,
      dir,
      sampler,
      new WindowAggregator(options.windowSeconds ?? 300),
      buffer,
      outbox,
      alerts,
      new AlertRuleSet(rules, alerts.raised),
      runs?.running ? 1 : 0,
      abort,
    );
  }

  get stats(): TelemetryStats {
    return {
      pendingWindows: this.buffer.pending,
      bufferBytes: this.buffer.bytes,
      droppedWindows: this.buffer.droppedTotal,
      nextSeq: this.buffer.nextSeq,
      batchesSent: this.#batchesSent,
      windowsSent: this.#windowsSent,
      pendingAlerts: this.alerts.pending.length,
      alertsSent: this.#alertsSent,
    };
  }

  /** True between `start()` and `stop()` (or `close()`): sampling and sending. */
  get running(): boolean {
    return this.#running;
  }

  /** The alert rules in force. */
  get alertRules(): readonly AlertRule[] {
    return this.rules.rules;
  }

  /** Starts sampling (and timers unless `manual`); records that the agent runs. */
  async start(): Promise<void> {
    if (this.#closed || this.#running) return;
    const runs = await readJsonFile(join(this.dir, 'agent-runs.json'), AgentRuns);
    await writeJsonAtomic(
      join(this.dir, 'agent-runs.json'),
      { starts: (runs?.starts ?? 0) + 1, running: true },
      this.#durability,
    );
    this.#running = true;
    this.#schedule();
  }

  /** A clean stop: timers off, the open window discarded, recorded as not running. */
  async stop(): Promise<void> {
    if (!this.#running || this.#closed) return;
    this.#running = false;
    this.#publish = undefined;
    clearTimeout(this.#tickTimer);
    clearTimeout(this.#wakeTimer);
    await this.#queue;
    await this.#draining;
    this.aggregator.discard();
    const runs = await readJsonFile(join(this.dir, 'agent-runs.json'), AgentRuns);
    await writeJsonAtomic(
      join(this.dir, 'agent-runs.json'),
      { starts: runs?.starts ?? 1, running: false },
      this.#durability,
    );
  }

  /** A power cut: nothing more runs or lands on disk. The instance is spent. */
  close(): void {
    this.#closed = true;
    this.#running = false;
    this.#publish = undefined;
    this.abort.abort(new Error('telemetry closed'));
    clearTimeout(this.#tickTimer);
    clearTimeout(this.#wakeTimer);
  }

  /**
   * The session's QoS 1 publish while online, undefined while offline. Going online sends what
   * waited: alerts first, then the buffer's backlog.
   */
  setPublisher(publish: QosOnePublish | undefined): void {
    this.#publish = publish;
    if (!publish || !this.#running) return;
    this.#wantDrain = true;
    void this.#sendAlerts()
      .then(() => this.#drainNow())
      .catch((error) => this.host.log(`telemetry: ${(error as Error).message}`));
  }

  /** Counts one MQTT reconnect into the next sample's `link.reconnects`. */
  linkReconnected(): void {
    this.#reconnects++;
  }

  /**
   * Does what is due at the clock's now: a sample, a window closing, a routine send, the next
   * batch of a paced backlog. Timers call it; with `manual`, the caller does. Resolves once the
   * sample is processed and what it started to send is acknowledged or failed.
   */
  async tick(): Promise<void> {
    if (!this.#running) return;
    await this.#serially(() => this.#tickNow());
    const sending = this.#sendAlerts().then(() => (this.#wantDrain ? this.#drainNow() : undefined));
    // On timers, a slow PUBACK must not hold up the next sample.
    if (this.options.manual) await sending;
    else sending.catch((error) => this.host.log(`telemetry: ${(error as Error).message}`));
  }

  /** Raises an event alert (`kind: 'event'`); published at once, on any link. */
  async raiseEvent(event: EventAlert): Promise<AlertV1> {
    const at = Math.trunc(this.#clock());
    const alert: AlertV1 = {
      v: 1,
      alertId: alertId(at, event.id, 'raised'),
      kind: 'event',
      ruleId: event.id,
      state: 'raised',
      severity: event.severity ?? 'critical',
      at,
      firmwareVersion: this.host.firmwareVersion(),
      ...(event.message !== undefined && { message: event.message.slice(0, 500) }),
    };
    await this.#serially(() => this.alerts.record([alert], this.rules.raised));
    await this.#sendAlerts();
    return alert;
  }

  /**
   * Replaces the threshold rules (a new configuration, later the shadow). Throws, changing
   * nothing, if a rule is invalid. A raised rule that is gone or changed is cleared.
   */
  async setAlertRules(rules: readonly AlertRule[]): Promise<void> {
    const parsed = parseAlertRules(rules);
    await this.#serially(async () => {
      const clears = this.rules.replace(parsed, this.#clock(), this.host.firmwareVersion());
      await this.alerts.record(clears, this.rules.raised);
    });
    await this.#sendAlerts();
  }

  get #durability() {
    return {
      fsync: this.options.fsync ?? true,
      signal: this.abort.signal,
      beforeWrite: this.options.beforeWrite,
    };
  }

  async #tickNow(): Promise<void> {
    if (!this.#running) return;
    const now = this.#clock();
    this.#followClockSetBack(now);
    if (now >= this.#nextSampleAt) {
      this.#nextSampleAt = (Math.floor(now / this.#sampleEveryMs) + 1) * this.#sampleEveryMs;
      await this.#takeSample(now);
    } else {
      const closed = this.aggregator.closeDue(now);
      if (closed) await this.buffer.append(closed);
    }
    if (now >= this.#nextSendAt) {
      this.#nextSendAt = this.#sendSlotAfter(now);
      this.#wantDrain = true;
    }
  }

  /**
   * A clock set back (NTP correcting a gateway that booted with a wrong time) must not leave the
   * next sample, send or batch far in the future.
   */
  #followClockSetBack(now: number): void {
    if (this.#nextSampleAt - now > this.#sampleEveryMs) this.#nextSampleAt = now;
    if (this.#nextSendAt - now > this.#sendEveryMs) this.#nextSendAt = this.#sendSlotAfter(now);
    if (this.#lastBatchAt > now) this.#lastBatchAt = now;
  }

  async #takeSample(now: number): Promise<void> {
    let sample: Awaited<ReturnType<MetricSampler['sample']>>;
    try {
      sample = await this.sampler.sample(now);
    } catch (error) {
      this.host.log(`telemetry: sampling failed: ${(error as Error).message}`);
      sample = { metrics: {}, health: 'unhealthy' };
    }
    if (!this.#running) return;
    const metrics: Record<string, number> = { ...sample.metrics };
    metrics[SYSTEM_METRICS.restarts] = (metrics[SYSTEM_METRICS.restarts] ?? 0) + this.#pendingRestarts;
    metrics[SYSTEM_METRICS.reconnects] = (metrics[SYSTEM_METRICS.reconnects] ?? 0) + this.#reconnects;
    this.#pendingRestarts = 0;
    this.#reconnects = 0;
    const firmwareVersion = this.host.firmwareVersion();
    const raisedOrCleared = this.rules.check(now, metrics, firmwareVersion);
    if (raisedOrCleared.length > 0) await this.alerts.record(raisedOrCleared, this.rules.raised);
    const closed = this.aggregator.add(now, { metrics, health: sample.health }, firmwareVersion);
    if (closed) await this.buffer.append(closed);
  }

  async #sendAlerts(): Promise<void> {
    const publish = this.#publish;
    if (!publish || this.alerts.pending.length === 0) return;
    await this.alerts.flush(async (alert) => {
      await this.#withTimeout(publish(ALERT_TOPIC(this.host.deviceId), JSON.stringify(alert)));
      this.#alertsSent++;
    });
  }

  #drainNow(): Promise<void> {
    if (!this.#draining)
      this.#draining = this.#drain()
        .catch((error) => {
          if (!this.#closed) this.host.log(`telemetry: sending stopped: ${(error as Error).message}`);
        })
        .finally(() => {
          this.#draining = undefined;
        });
    return this.#draining;
  }

  /** Batches out, oldest first, paced, until the buffer is empty, the link goes, or a publish fails. */
  async #drain(): Promise<void> {
    while (this.#wantDrain && this.#running) {
      const publish = this.#publish;
      if (!publish) return;
      await this.#sendAlerts();
      // Alerts go first, always: none waiting, or no batch.
      if (this.alerts.pending.length > 0) return this.#retryLater();
      const wait = this.#lastBatchAt + this.#batchGapMs - this.#clock();
      if (wait > 0) return this.#wakeIn(wait);
      if (!this.outbox.pending)
        await this.buffer.withOldest(MAX_WINDOWS_PER_BATCH, async (windows) => {
          if (windows.length === 0) return undefined;
          const metered = essentialsOnly(this.host.bandwidth(), this.#clock());
          return (await this.outbox.form(metered ? windows.map(cutToEssentials) : windows)).lastSeq;
        });
      const batch = this.outbox.pending;
      if (!batch) {
        this.#wantDrain = false;
        return;
      }
      this.buffer.setInFlightThrough(batch.lastSeq);
      this.#lastBatchAt = this.#clock();
      try {
        await this.#withTimeout(publish(TELEMETRY_TOPIC(this.host.deviceId), batch.payload));
      } catch (error) {
        if (this.#publish === publish && this.#running)
          this.host.log(
            `telemetry: batch ${batch.firstSeq}-${batch.lastSeq} not acknowledged: ${(error as Error).message}`,
          );
        return this.#retryLater();
      }
      this.abort.signal.throwIfAborted();
      await this.buffer.acknowledge(batch.lastSeq);
      await this.outbox.clear();
      this.buffer.setInFlightThrough(-1);
      this.#batchesSent++;
      this.#windowsSent += batch.count;
      // The backlog is out: windows closing from now on wait for the next routine send.
      if (this.buffer.pending === 0) this.#wantDrain = false;
    }
  }

  /** Online but a publish failed: try again at the next routine send or in RETRY_MS. */
  #retryLater(): void {
    this.#wantDrain = false;
    this.#nextSendAt = Math.min(this.#nextSendAt, this.#clock() + RETRY_MS);
    this.#schedule();
  }

  /** A paced backlog continues after `ms`: on a timer, or at the caller's next tick. */
  #wakeIn(ms: number): void {
    if (this.options.manual || this.#closed) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeTimer = setTimeout(() => {
      this.#wakeTimer = undefined;
      void this.#drainNow();
    }, ms);
    this.#wakeTimer.unref();
  }

  /** The next tick on a timer: the next sample or the next routine send, whichever is first. */
  #schedule(): void {
    if (this.options.manual || !this.#running) return;
    clearTimeout(this.#tickTimer);
    const due = Math.min(this.#nextSampleAt, this.#nextSendAt);
    this.#tickTimer = setTimeout(
      () => {
        this.#tickTimer = undefined;
        this.tick()
          .catch((error) => {
            if (!this.#closed) this.host.log(`telemetry: ${(error as Error).message}`);
          })
          .finally(() => this.#schedule());
      },
      Math.max(0, due - this.#clock()),
    );
    this.#tickTimer.unref();
  }

  /** The first send slot after `now`: multiples of sendEvery, shifted by this device's offset. */
  #sendSlotAfter(now: number): number {
    const slots = Math.floor((now - this.#sendOffsetMs) / this.#sendEveryMs) + 1;
    return slots * this.#sendEveryMs + this.#sendOffsetMs;
  }

  #withTimeout(promise: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no PUBACK within ${this.#publishTimeoutMs} ms`)),
        this.#publishTimeoutMs,
      );
      timer.unref();
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }
}

function checkOptions(options: TelemetryOptions): void {
  const positive = (name: keyof TelemetryOptions, max: number) => {
    const value = options[name];
    if (value !== undefined && (typeof value !== 'number' || !(value > 0) || value > max))
      throw new Error(`telemetry.${name} must be more than 0 and at most ${max}`);
  };
  positive('sampleEverySeconds', 3600);
  positive('sendEverySeconds', 86_400);
  positive('maxBatchesPerSecond', 100);
  const window = options.windowSeconds ?? 300;
  if (!Number.isInteger(window) || window < 1 || window > 3600)
    throw new Error('telemetry.windowSeconds must be an integer from 1 to 3600');
  if ((options.sampleEverySeconds ?? 5) > window)
    throw new Error('telemetry.sampleEverySeconds must not be more than windowSeconds');
}

/** A stable offset in [0, period) from the device id (FNV-1a), spreading a fleet's sends. */
function offsetOf(deviceId: string, periodMs: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) hash = Math.imul(hash ^ deviceId.charCodeAt(i), 0x01000193) >>> 0;
  return Math.floor(((hash % 10_000) / 10_000) * periodMs);
}
