/**
 * Remote commands on the device: the job executions whose document says `edgeopsCommand` (the
 * agent hands every other one to the OTA updater).
 *
 * 1. The document is parsed at the edge (contract/device-commands.ts). A malformed one is
 *    REJECTED (`invalid-document`); one whose `expiresAt` has passed (beyond a small allowance
 *    for clock skew) is REJECTED (`expired`), and the backend shows it EXPIRED.
 * 2. The command runs, reporting IN_PROGRESS first; its result goes into statusDetails (strings,
 *    ≤ 1024 characters each, at most MAX_STATUS_DETAILS entries): SUCCEEDED, or FAILED with a
 *    `reason`. A refusal of the IN_PROGRESS update (the execution was canceled meanwhile, e.g.
 *    it expired) stops it before it does anything.
 * 3. Reboot: the in-flight reboot is written to disk (with the kernel's boot id) before the
 *    reboot; on the next start the runner confirms it, SUCCEEDED if the boot id changed (FAILED
 *    `reboot-not-observed` if the agent only restarted). The reboot itself is a hook: the daemon
 *    runs `systemctl reboot`, simulations reboot the agent in-process.
 * 4. Verdicts go through a small outbox on disk and are delivered in order whenever the device is
 *    online: a result is not lost to a disconnect or a power cut, and an execution handed out
 *    again (its verdict lost) gets the same verdict again.
 */
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  COMMAND_TOPICS,
  CommandJobDocumentV1,
  MAX_LOG_UPLOAD_BYTES,
  MAX_STATUS_DETAIL_VALUE,
  MAX_STATUS_DETAILS,
  STATUS_DETAIL_KEY,
  type UploadUrlAcceptedV1,
} from '../../contract/device-commands';
import type { UpdateVerdict } from '../cloud/iot-jobs-client';
import type { JobExecution } from '../cloud/iot-jobs-messages';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';
import { type DiagnosticsTargets, runDiagnostics } from './diagnostics';
import { gatherInventory, type InventoryFacts } from './inventory';
import { type LogSource, packLogs } from './log-collection';
import { UploadUrlRefusedError } from './upload-url-client';

/** What the runner needs from the agent's current MQTT session. */
export interface CommandSession {
  /** Aborted when the session ends: no more work. */
  readonly signal: AbortSignal;
  update(
    jobId: string,
    status: 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'REJECTED',
    statusDetails: Readonly<Record<string, string>>,
    clientToken: string,
  ): Promise<UpdateVerdict>;
  /** Publishes at QoS 1 and resolves on the PUBACK. */
  publish(topic: string, payload: string): Promise<void>;
  requestUploadUrl(commandId: string, bytes: number): Promise<UploadUrlAcceptedV1>;
}

export interface CommandRunnerOptions {
  readonly deviceId: string;
  /** The runner keeps `commands.json` here (in-flight reboot, outbox). */
  readonly stateDir: string;
  readonly durability: DurabilityOptions;
  readonly now: () => number;
  readonly log: (message: string) => void;
  /** How far past `expiresAt` a command is still taken (clocks differ). @default 60000 */
  readonly clockSkewToleranceMs?: number;
  /**
   * Reboots the device; resolves once the reboot is under way. Undefined: the agent reboots
   * in-process (run() answers 'reboot').
   */
  readonly reboot?: (() => Promise<void>) | undefined;
  /** An id that changes with every boot (the kernel's boot_id); undefined where unknown. */
  readonly bootId: () => Promise<string | undefined>;
  readonly logs: LogSource;
  readonly diagnostics: Omit<DiagnosticsTargets, 'diskPath'> & { readonly diskPath?: string };
  readonly inventory: InventoryFacts;
  /** Accept `http:` upload URLs (local AWS) and mark them as TLS for its S3. @default false */
  readonly allowPlainHttp?: boolean;
  /** How long before an undelivered verdict is tried again on the same session. @default 5000 */
  readonly retryDelayMs?: number;
}

/** `reboot`: the agent must reboot itself in-process now (no reboot hook configured). */
export type CommandStep = 'idle' | 'reboot';

const Verdict = z.enum(['SUCCEEDED', 'FAILED', 'REJECTED']);
const OutboxEntry = z.object({
  jobId: z.string(),
  status: Verdict,
  statusDetails: z.record(z.string(), z.string()),
  clientToken: z.string(),
});
type OutboxEntry = z.infer<typeof OutboxEntry>;
const RunnerState = z.object({
  inFlightReboot: z
    .object({
      jobId: z.string(),
      commandId: z.string(),
      bootId: z.string().optional(),
      requestedAt: z.string(),
    })
    .optional(),
  outbox: z.array(OutboxEntry),
  /** Verdicts delivered, newest last (a few kept, for executions handed out again). */
  delivered: z.array(OutboxEntry),
});
type RunnerState = z.infer<typeof RunnerState>;

const DELIVERED_KEPT = 32;
/** Jobs error codes worth another try later; any other refusal will not change by retrying. */
const RETRYABLE = new Set(['RequestThrottled', 'InternalError', 'ServiceUnavailable']);

export class CommandRunner {
  #state: RunnerState;
  #flushing: Promise<void> = Promise.resolve();
  /** A flush again later, while verdicts wait on a session that is still up. */
  #retry: NodeJS.Timeout | undefined;
  /** Reboots this process asked for: a reconnect before the reboot is not its confirmation. */
  readonly #rebootsRequestedHere = new Set<string>();

  private constructor(
    private readonly options: CommandRunnerOptions,
    state: RunnerState,
  ) {
    this.#state = state;
  }

  static async open(options: CommandRunnerOptions): Promise<CommandRunner> {
    await mkdir(options.stateDir, { recursive: true });
    const state = (await readJsonFile(join(options.stateDir, 'commands.json'), RunnerState)) ?? {
      outbox: [],
      delivered: [],
    };
    return new CommandRunner(options, state);
  }

  /** Verdicts not yet delivered. */
  get pending(): readonly OutboxEntry[] {
    return this.#state.outbox;
  }

  /** The reboot this device is in the middle of, if any. */
  get inFlightReboot(): RunnerState['inFlightReboot'] {
    return this.#state.inFlightReboot;
  }

  /** On every (re)connect: confirms a reboot that happened, then delivers what waited. */
  async resume(session: CommandSession): Promise<void> {
    const inFlight = this.#state.inFlightReboot;
    if (inFlight) {
      const bootNow = await this.options.bootId();
      const sameBoot = inFlight.bootId !== undefined && bootNow !== undefined && inFlight.bootId === bootNow;
      if (this.#rebootsRequestedHere.has(inFlight.jobId) && (sameBoot || bootNow === undefined)) {
        // This process asked for the reboot and it has not happened yet: just a reconnect.
      } else {
        const details: Record<string, string> = sameBoot
          ? {
              reason: 'reboot-not-observed',
              detail: 'the agent started again without a new boot (the reboot command did not reboot)',
              rebootRequestedAt: inFlight.requestedAt,
            }
          : {
              rebootRequestedAt: inFlight.requestedAt,
              rebootedAt: new Date(this.options.now()).toISOString(),
              ...(bootNow ? { bootId: bootNow } : {}),
            };
        this.options.log(`command ${inFlight.commandId}: ${sameBoot ? 'reboot not observed' : 'rebooted'}`);
        await this.#write({
          ...this.#state,
          inFlightReboot: undefined,
          outbox: [
            ...this.#state.outbox,
            this.#entry(inFlight.jobId, sameBoot ? 'FAILED' : 'SUCCEEDED', details),
          ],
        });
      }
    }
    await this.flush(session);
  }

  /** Takes on a command's job execution (start-next already set it IN_PROGRESS). */
  async run(session: CommandSession, execution: JobExecution): Promise<CommandStep> {
    const { jobId } = execution;
    if (this.#state.outbox.some((e) => e.jobId === jobId)) {
      await this.flush(session);
      return 'idle';
    }
    const delivered = this.#state.delivered.find((e) => e.jobId === jobId);
    if (delivered) {
      // Handed out again: the verdict was lost on the way. Say it again.
      await this.#write({
        ...this.#state,
        outbox: [...this.#state.outbox, { ...delivered, clientToken: randomUUID() }],
      });
      await this.flush(session);
      return 'idle';
    }
    if (this.#state.inFlightReboot?.jobId === jobId) {
      await this.resume(session);
      return 'idle';
    }
    const raw =
      typeof execution.jobDocument === 'string' ? safeJson(execution.jobDocument) : execution.jobDocument;
    const parsed = CommandJobDocumentV1.safeParse(raw);
    if (!parsed.success) {
      const detail = parsed.error.issues
        .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
        .join('; ');
      return this.#finish(session, jobId, 'REJECTED', { reason: 'invalid-document', detail });
    }
    const document = parsed.data;
    const now = this.options.now();
    if (now > Date.parse(document.expiresAt) + (this.options.clockSkewToleranceMs ?? 60_000)) {
      this.options.log(
        `command ${document.commandId} (${document.command}) expired at ${document.expiresAt}; refused`,
      );
      return this.#finish(session, jobId, 'REJECTED', {
        reason: 'expired',
        expiresAt: document.expiresAt,
        deviceTime: new Date(now).toISOString(),
      });
    }
    this.options.log(`command ${document.commandId}: ${document.command}`);
    if (document.command === 'reboot')
      return this.#reboot(session, jobId, document.commandId, document.parameters.reason);

    const started = await session
      .update(jobId, 'IN_PROGRESS', { stage: 'running', command: document.command }, randomUUID())
      .catch(() => undefined);
    if (started && !started.accepted && !RETRYABLE.has(started.code)) {
      this.options.log(`command ${document.commandId}: the service refused to start it (${started.code})`);
      return 'idle';
    }
    let status: 'SUCCEEDED' | 'FAILED';
    let details: Record<string, string>;
    try {
      details = await this.#execute(session, document);
      status = 'SUCCEEDED';
    } catch (error) {
      status = 'FAILED';
      details =
        error instanceof CommandFailure
          ? { reason: error.reason, detail: error.message }
          : { reason: 'failed', detail: (error as Error).message };
    }
    this.options.log(
      `command ${document.commandId}: ${status}${status === 'FAILED' ? ` (${details.reason}: ${details.detail})` : ''}`,
    );
    return this.#finish(session, jobId, status, details);
  }

  /** Refuses a job this device cannot run at all (an OTA job on a device without OTA). */
  async refuse(session: CommandSession, execution: JobExecution, detail: string): Promise<CommandStep> {
    if (this.#state.outbox.some((e) => e.jobId === execution.jobId))
      return this.flush(session).then(() => 'idle');
    return this.#finish(session, execution.jobId, 'REJECTED', { reason: 'unsupported-command', detail });
  }

  /** Delivers queued verdicts in order, until one cannot be delivered now. */
  flush(session: CommandSession): Promise<void> {
    const run = this.#flushing.then(() => this.#flushOnce(session));
    this.#flushing = run.catch(() => {});
    return run;
  }

  async #flushOnce(session: CommandSession): Promise<void> {
    while (!session.signal.aborted) {
      const entry = this.#state.outbox[0];
      if (!entry) return;
      let verdict: UpdateVerdict;
      try {
        verdict = await session.update(entry.jobId, entry.status, entry.statusDetails, entry.clientToken);
      } catch {
        // Unanswered (a slow service) or offline: again in a while on this session; a new
        // session flushes on connect anyway. The same clientToken makes a repeat harmless.
        return this.#retryLater(session);
      }
      if (!verdict.accepted && RETRYABLE.has(verdict.code)) return this.#retryLater(session);
      if (!verdict.accepted)
        this.options.log(`job ${entry.jobId}: ${entry.status} refused (${verdict.code}); dropped`);
      await this.#write({
        ...this.#state,
        outbox: this.#state.outbox.filter((e) => e !== entry),
        delivered: [...this.#state.delivered, entry].slice(-DELIVERED_KEPT),
      });
    }
  }

  #retryLater(session: CommandSession): void {
    if (this.#retry || session.signal.aborted) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (!session.signal.aborted) void this.flush(session).catch(() => {});
    }, this.options.retryDelayMs ?? 5_000);
    this.#retry.unref();
  }

  async #reboot(
    session: CommandSession,
    jobId: string,
    commandId: string,
    reason: string | undefined,
  ): Promise<CommandStep> {
    const bootId = await this.options.bootId();
    const requestedAt = new Date(this.options.now()).toISOString();
    await this.#write({
      ...this.#state,
      inFlightReboot: { jobId, commandId, requestedAt, ...(bootId ? { bootId } : {}) },
    });
    this.#rebootsRequestedHere.add(jobId);
    const verdict = await session
      .update(jobId, 'IN_PROGRESS', { stage: 'rebooting', command: 'reboot' }, randomUUID())
      .catch(() => undefined);
    if (verdict && !verdict.accepted && !RETRYABLE.has(verdict.code)) {
      this.options.log(
        `command ${commandId}: the service refused to start it (${verdict.code}); not rebooting`,
      );
      await this.#write({ ...this.#state, inFlightReboot: undefined });
      return 'idle';
    }
    this.options.log(`command ${commandId}: rebooting${reason ? ` (${reason})` : ''}`);
    if (!this.options.reboot) return 'reboot';
    try {
      await this.options.reboot();
      return 'idle';
    } catch (error) {
      await this.#write({ ...this.#state, inFlightReboot: undefined });
      return this.#finish(session, jobId, 'FAILED', { reason: 'failed', detail: (error as Error).message });
    }
  }

  async #execute(session: CommandSession, document: CommandJobDocumentV1): Promise<Record<string, string>> {
    switch (document.command) {
      case 'upload-logs':
        return this.#uploadLogs(
          session,
          document.commandId,
          document.parameters.maxBytes ?? MAX_LOG_UPLOAD_BYTES,
        );
      case 'diagnostics': {
        const { diagnostics } = this.options;
        return runDiagnostics(
          { ...diagnostics, diskPath: diagnostics.diskPath ?? this.options.stateDir },
          {
            timeoutMs: (document.parameters.probeTimeoutSeconds ?? 5) * 1000,
            now: this.options.now,
            headersFor: (url) => this.#localHeaders(url),
          },
        );
      }
      case 'inventory': {
        const inventory = await gatherInventory(this.options.inventory, {
          commandId: document.commandId,
          now: this.options.now,
        });
        await session.publish(COMMAND_TOPICS.inventory(this.options.deviceId), JSON.stringify(inventory));
        return {
          inventoryReported: 'true',
          agentVersion: inventory.agentVersion,
          firmwareVersion: inventory.firmwareVersion,
          components: String(inventory.components.length),
          os: `${inventory.os.platform} ${inventory.os.release}`,
          arch: inventory.hardware.arch,
        };
      }
      default:
        throw new CommandFailure('unsupported-command', `unsupported command ${document.command}`);
    }
  }

  async #uploadLogs(
    session: CommandSession,
    commandId: string,
    maxBytes: number,
  ): Promise<Record<string, string>> {
    const packed = await packLogs(this.options.logs, maxBytes).catch((error: Error) => {
      throw new CommandFailure('logs-unavailable', `${this.options.logs.description}: ${error.message}`);
    });
    let target: UploadUrlAcceptedV1;
    try {
      target = await session.requestUploadUrl(commandId, packed.gz.length);
    } catch (error) {
      throw new CommandFailure(
        'upload-url-refused',
        error instanceof UploadUrlRefusedError ? error.message : `no upload URL: ${(error as Error).message}`,
      );
    }
    const url = new URL(target.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && this.options.allowPlainHttp))
      throw new CommandFailure('upload-failed', `refusing to upload over ${url.protocol}`);
    const form = new FormData();
    for (const [name, value] of Object.entries(target.fields)) form.append(name, value);
    form.append('file', new Blob([new Uint8Array(packed.gz)], { type: 'application/gzip' }), 'logs.gz');
    const response = await fetch(url, {
      method: 'POST',
      body: form,
      headers: this.#localHeaders(url),
      signal: AbortSignal.any([session.signal, AbortSignal.timeout(300_000)]),
    }).catch((error: Error) => {
      throw new CommandFailure('upload-failed', error.message);
    });
    const text = await response.text().catch(() => '');
    if (!response.ok)
      throw new CommandFailure('upload-failed', `HTTP ${response.status}: ${text.slice(0, 300)}`);
    return {
      objectKey: target.objectKey,
      bytes: String(packed.gz.length),
      sourceBytes: String(packed.sourceBytes),
      includedBytes: String(packed.includedBytes),
      truncated: String(packed.truncated),
      source: this.options.logs.description,
    };
  }

  /** Local AWS's S3 speaks plain http and counts a request as TLS only when told so. */
  #localHeaders(url: URL): Record<string, string> {
    return url.protocol === 'http:' && this.options.allowPlainHttp ? { 'x-forwarded-proto': 'https' } : {};
  }

  async #finish(
    session: CommandSession,
    jobId: string,
    status: 'SUCCEEDED' | 'FAILED' | 'REJECTED',
    details: Record<string, string>,
  ): Promise<CommandStep> {
    await this.#write({
      ...this.#state,
      outbox: [...this.#state.outbox, this.#entry(jobId, status, details)],
    });
    await this.flush(session);
    return 'idle';
  }

  #entry(jobId: string, status: OutboxEntry['status'], details: Record<string, string>): OutboxEntry {
    return { jobId, status, statusDetails: statusDetails(details), clientToken: randomUUID() };
  }

  async #write(state: RunnerState): Promise<void> {
    await writeJsonAtomic(join(this.options.stateDir, 'commands.json'), state, this.options.durability);
    this.#state = state;
  }
}

/** A command that failed for a reason the result names. */
class CommandFailure extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * statusDetails as AWS IoT Jobs accepts them: keys `[a-zA-Z0-9:_-]{1,128}`, values non-empty,
 * without control characters, ≤ 1024 characters; at most MAX_STATUS_DETAILS entries.
 */
export function statusDetails(details: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, raw] of Object.entries(details)) {
    if (Object.keys(out).length >= MAX_STATUS_DETAILS) break;
    if (!STATUS_DETAIL_KEY.test(key)) continue;
    const value = raw
      .replace(/\p{C}+/gu, ' ')
      .trim()
      .slice(0, MAX_STATUS_DETAIL_VALUE);
    if (value) out[key] = value;
  }
  return out;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
