/**
 * One device's OTA updates: from a job execution to a confirmed new slot, or back on the old one.
 * It owns the state dir; the agent owns the MQTT session and the reboots it asks for.
 *
 * 1. A job is parsed at the edge; a malformed one, or one for other hardware, is REJECTED with a
 *    `failed` event, and nothing else changes.
 * 2. The artifact is downloaded (resumable) and verified into a partial file, then moved into the
 *    inactive slot, which is marked pending in `boot.json`; the agent then reboots.
 * 3. Each trial boot spends one of `maxTrialBoots` attempts (default 3) first, soaks for
 *    healthCheckSeconds (× time factor), runs the health check, then commits the slot (`healthy`,
 *    SUCCEEDED) or reverts and reboots (`rolled-back`, FAILED). A trial cut short (a power cut, a
 *    crash) boots again while attempts are left; once they are all spent, the next boot reverts
 *    (`crash-before-confirm`, "N trial boots without a confirmation").
 * 4. Each stage is an event plus a job update, queued in the outbox in order. Nothing is lost to a
 *    power cut between two writes: a stage's event is written into the job record (with its seq
 *    and an eventId derived from job, execution and seq) before it is queued, and a restart
 *    queues it again; an outcome is written into the record before the boot state changes, and
 *    queued before `finished-jobs.json` and the record's removal. A replayed event keeps its
 *    eventId and seq, so the outbox holds it once and the cloud applies it once.
 */
import { randomUUID } from 'node:crypto';
import { access, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { OtaEventV1, type OtaStage } from '../../contract/ota';
import type { JobExecution } from '../cloud/iot-jobs-messages';
import type { DurabilityOptions } from '../storage/atomic-file';
import { DeviceStateDir, otherSlot, type Slot } from '../storage/device-state-dir';
import { downloadArtifact, type LinkShaper } from './artifact-download';
import {
  BootSlots,
  checkMaxTrialBoots,
  committed,
  DEFAULT_MAX_TRIAL_BOOTS,
  decideBoot,
  reverted,
  withTrial,
} from './boot-slots';
import { rebuildFromDelta } from './delta-rebuild';
import { type DownloadLimits, downloadBudget } from './download-budget';
import type { HealthCheck, HealthVerdict } from './health-check';
import { checkJobDocument } from './job-document';
import { buildOtaEvent, jobStatusDetails, otaEventId } from './ota-events';
import { FinishedJobs, type JobOutcome, type JobRecord, JobRecordStore } from './ota-job-record';
import { OtaOutbox } from './ota-outbox';
import { installTrustRoot, verifyRelease } from './release-trust';
import { decideTransfer } from './transfer-decision';

export interface OtaUpdaterOptions {
  readonly deviceId: string;
  readonly hardwareType: string;
  /** Installed in slot A the first time the state dir is used; afterwards the slots say what runs. */
  readonly factoryVersion: string;
  readonly stateDir: string;
  readonly healthCheck: HealthCheck;
  /** Scales every wait (health-check soak, retry pauses): 1 in the field, small in tests. */
  readonly timeFactor: number;
  readonly allowPlainHttp: boolean;
  readonly durability: DurabilityOptions;
  /**
   * Boots a freshly installed slot gets to confirm itself (U-Boot's bootlimit): a trial cut short
   * by a power cut or crash boots again until they are spent, then the device reverts. 1..10.
   * @default 3
   */
  readonly maxTrialBoots?: number | undefined;
  readonly link?: LinkShaper | undefined;
  /** The TUF root the device got at registration; installed on first use (a newer one stays). */
  readonly trustRoot?: unknown;
  /** The factory image in slot A on first use; by default a few placeholder bytes. */
  readonly factoryImage?: Uint8Array | undefined;
  /** The bandwidth policy and link type right now; asked before every download. */
  readonly bandwidth?: (() => { policy: BandwidthPolicy | undefined; metered: boolean }) | undefined;
  /**
   * Changes the download budget (`download-budget.ts`: by default 600 s + signed length at
   * 8 KiB/s) for this device's hardware type; later the job document will carry it. A transfer
   * that cannot finish within its budget fails the job with `download-too-slow`.
   */
  readonly downloadLimits?: DownloadLimits | undefined;
  readonly onEvent?: ((event: OtaEventV1) => void) | undefined;
  readonly now: () => number;
  readonly log: (message: string) => void;
}

export interface RunningFirmware {
  readonly slot: Slot;
  readonly version: string;
  /** Booted from a pending slot that still has to pass its health check. */
  readonly trial: boolean;
}

/** What the updater needs from the current session (one boot of the agent). */
export interface OtaSession {
  readonly running: RunningFirmware;
  /** Aborted when the agent stops or crashes: no more work, no more writes. */
  readonly signal: AbortSignal;
  /** Something was queued: deliver it when you can. */
  readonly queued: () => void;
  /** The device confirmed a new version: tell the shadow. */
  readonly confirmed: () => void;
}

/** `reboot`: the agent must restart into whatever `boot.json` now says. */
export type JobStep = 'idle' | 'reboot';

export class OtaUpdater {
  readonly #dir: DeviceStateDir;
  readonly #slots: BootSlots;
  readonly #jobs: JobRecordStore;
  readonly #maxTrialBoots: number;
  #currentJobId: string | undefined;

  private constructor(
    private readonly options: OtaUpdaterOptions,
    readonly outbox: OtaOutbox,
    private readonly finished: FinishedJobs,
    /** Aborted by close(): the power is gone, no write of this instance lands any more. */
    private readonly power: AbortController,
  ) {
    const durability = { ...options.durability, signal: power.signal };
    this.#dir = new DeviceStateDir(options.stateDir);
    this.#slots = new BootSlots(this.#dir, durability);
    this.#jobs = new JobRecordStore(this.#dir.jobFile, durability);
    this.#maxTrialBoots = options.maxTrialBoots ?? DEFAULT_MAX_TRIAL_BOOTS;
  }

  static async open(options: OtaUpdaterOptions): Promise<OtaUpdater> {
    // Every event carries the running version; one the contract refuses would fail every update.
    const version = OtaEventV1.shape.runningVersion.safeParse(options.factoryVersion);
    if (!version.success)
      throw new Error(`Firmware version '${options.factoryVersion}' is not a valid version`);
    if (options.maxTrialBoots !== undefined) checkMaxTrialBoots(options.maxTrialBoots);
    const power = new AbortController();
    const durability = { ...options.durability, signal: power.signal };
    const dir = new DeviceStateDir(options.stateDir);
    await mkdir(dir.root, { recursive: true });
    if (options.trustRoot !== undefined && !(await exists(dir.trustRootFile)))
      await installTrustRoot(dir.trustDir, options.trustRoot);
    const outbox = await OtaOutbox.open(dir.outboxFile, {
      ...durability,
      retryDelayMs: Math.max(1, 10_000 * options.timeFactor),
    });
    const finished = await FinishedJobs.open(dir.finishedJobsFile, durability);
    return new OtaUpdater(options, outbox, finished, power);
  }

  /** The job being worked on, if any (a repeated notification for it changes nothing). */
  get currentJobId(): string | undefined {
    return this.#currentJobId;
  }

  /** Picks the slot to run, spending a trial boot or reverting a trial that never confirmed. */
  async boot(): Promise<RunningFirmware> {
    let state = await this.#slots.initialize(this.options.factoryVersion, this.options.factoryImage);
    const record = await this.#jobs.read();
    if (record?.outcome && state.pending !== null) {
      // An outcome was decided but the boot change it implies may not have landed: apply it.
      state =
        record.outcome.stage === 'healthy' && record.trialSlot === state.pending
          ? committed(state.pending)
          : reverted(state);
      await this.#slots.write(state);
    }
    const decision = decideBoot(state, this.#maxTrialBoots);
    if (decision.kind === 'trial') {
      const meta = await this.#slots.readMeta(decision.slot);
      if (meta) {
        await this.#slots.write(decision.next);
        return { slot: decision.slot, version: meta.version, trial: true };
      }
      await this.#decide({ stage: 'rolled-back', jobStatus: 'FAILED', reason: 'trial-slot-empty' });
      await this.#slots.write(reverted(decision.next));
    } else if (decision.kind === 'revert-unconfirmed') {
      const boots = decision.trialBoots;
      await this.#decide({
        stage: 'rolled-back',
        jobStatus: 'FAILED',
        reason: 'crash-before-confirm',
        detail: `${boots} trial boot${boots === 1 ? '' : 's'} without a confirmation`,
      });
      await this.#slots.write(decision.next);
    }
    const meta = await this.#slots.readMeta(decision.slot);
    return { slot: decision.slot, version: meta?.version ?? this.options.factoryVersion, trial: false };
  }

  /** After boot: finishes whatever the state dir says was under way. */
  async resume(session: OtaSession): Promise<JobStep> {
    const record = await this.#jobs.read();
    const { running } = session;
    if (!record) return running.trial ? this.#trial(session, undefined) : 'idle';
    this.#currentJobId = record.jobId;
    // The last stage may have been written here but not queued when the power went: queue it
    // again (same ids: queued once, applied once). Once on trial or decided, it was queued.
    if (record.announced && !record.outcome && record.phase !== 'trial' && !running.trial)
      await this.#queueStage(session, record.announced);
    if (record.outcome) {
      await this.#settle(session, record);
      return 'idle';
    }
    if (running.trial && record.trialSlot === running.slot) return this.#trial(session, record);
    if (record.phase === 'trial') {
      // Boot state moved on without an outcome on disk; judge by what runs now.
      const onTarget = running.slot === record.trialSlot;
      await this.#finish(
        session,
        record,
        onTarget ? { stage: 'healthy', jobStatus: 'SUCCEEDED' } : TRIAL_LOST,
      );
      return 'idle';
    }
    return this.#install(session, record);
  }

  /** Takes on a job execution the Jobs service handed out. */
  async run(session: OtaSession, execution: JobExecution): Promise<JobStep> {
    if (execution.jobId === this.#currentJobId) return 'idle';
    const existing = await this.#jobs.read();
    if (existing) {
      if (existing.jobId !== execution.jobId)
        this.options.log(`busy with job ${existing.jobId}; job ${execution.jobId} waits`);
      return 'idle';
    }
    const finished = this.finished.get(execution.jobId);
    if (finished && finished.executionNumber === execution.executionNumber) {
      // Handed out again: our terminal update is still queued, or it was lost. Say it again if lost.
      const { jobId, status, statusDetails } = finished;
      const queued = this.outbox.pending.some((e) => e.kind === 'job-update' && e.jobId === jobId);
      if (!queued)
        await this.outbox.append({ kind: 'job-update', id: randomUUID(), jobId, status, statusDetails });
      session.queued();
      return 'idle';
    }
    // A new execution of a job this device ran before (a retry) continues its seq.
    const firstSeq = finished ? finished.lastSeq + 1 : 0;
    const check = checkJobDocument(execution.jobId, execution.jobDocument, this.options);
    if (!check.ok) {
      await this.#reject(session, execution, check.rolloutId, check.reason, firstSeq);
      return 'idle';
    }
    const verdict = await this.#verify(session, check.document);
    if (!verdict.ok) {
      await this.#reject(session, execution, check.document.rolloutId, verdict.reason, firstSeq);
      return 'idle';
    }
    const { image, delta } = verdict;
    const record: JobRecord = {
      jobId: execution.jobId,
      ...(execution.executionNumber === undefined ? {} : { executionNumber: execution.executionNumber }),
      document: check.document,
      artifact: { target: image.path, url: image.url, size: image.length, sha256: image.sha256 },
      ...(delta?.facts.base
        ? {
            delta: {
              target: delta.path,
              url: delta.url,
              size: delta.length,
              sha256: delta.sha256,
              baseSha256: delta.facts.base.sha256,
            },
          }
        : {}),
      phase: 'downloading',
      fromSlot: session.running.slot,
      fromVersion: session.running.version,
      trialSlot: otherSlot(session.running.slot),
      nextSeq: firstSeq,
    };
    await this.#jobs.write(record);
    this.#currentJobId = record.jobId;
    return this.#install(session, record);
  }

  /** Keeps the slot metadata true when the running firmware is relabelled by hand. */
  async relabel(slot: Slot, version: string): Promise<void> {
    const meta = await this.#slots.readMeta(slot);
    await this.#slots.writeMeta(slot, { ...(meta ?? { installedAt: this.options.now() }), version });
  }

  /** Stops writing: another agent instance takes over the state dir. */
  close(): void {
    this.power.abort(new Error('OTA updater closed'));
    this.outbox.close();
  }

  async #install(session: OtaSession, start: JobRecord): Promise<JobStep> {
    let record = start;
    const { artifact } = record;
    const { release } = record.document;
    const target = record.trialSlot ?? otherSlot(record.fromSlot);
    if (record.phase === 'downloading' || record.phase === 'installing') {
      if (await this.#slots.holdsImage(target, artifact.sha256, artifact.size)) {
        if (record.phase === 'downloading') record = await this.#announce(session, record, 'installing');
      } else {
        if (record.phase === 'downloading') {
          await this.#removePartials(artifact.sha256, record.delta?.sha256);
          record = await this.#announce(session, record, 'downloading', {
            bytesDownloaded: await sizeOf(this.#dir.partialDownload(artifact.sha256)),
          });
        }
        const fetched = await this.#fetchImage(session, record);
        session.signal.throwIfAborted();
        if (!fetched.ok) {
          await this.#finish(session, record, {
            stage: 'failed',
            jobStatus: 'FAILED',
            reason: fetched.reason,
          });
          return 'idle';
        }
        const result = fetched;
        record = { ...fetched.record, bytesDownloaded: fetched.bytesDownloaded };
        if (record.phase === 'downloading') record = await this.#announce(session, record, 'installing');
        else await this.#jobs.write(record);
        await this.#slots.install(target, result.path, {
          version: release.version,
          releaseId: release.releaseId,
          sha256: artifact.sha256,
          size: artifact.size,
          installedAt: this.options.now(),
        });
      }
      record = await this.#announce(session, record, 'rebooting');
    }
    session.signal.throwIfAborted();
    await this.#slots.write(withTrial(await this.#slots.read(), target));
    return 'reboot';
  }

  /**
   * Verifies the release against the signed metadata before anything is downloaded. Fetching the
   * metadata can fail for passing reasons (the network, a publication half written), so those
   * failures get two more tries; every other refusal is final at once.
   */
  async #verify(session: OtaSession, document: JobRecord['document']) {
    for (let attempt = 1; ; attempt++) {
      const verdict = await this.#verifyOnce(session, document);
      if (verdict.ok || attempt >= 3 || !TRANSIENT_TRUST_FAILURE.test(verdict.reason)) return verdict;
      this.options.log(`release verification failed (${verdict.reason}); trying again`);
      await sleep(5_000 * attempt * this.options.timeFactor, undefined, { signal: session.signal });
    }
  }

  async #verifyOnce(session: OtaSession, document: JobRecord['document']) {
    if (!(await exists(this.#dir.trustRootFile)))
      return { ok: false as const, reason: 'no-trust-root: this device was registered without a trust root' };
    const active = await this.#slots.readMeta(session.running.slot);
    return verifyRelease({
      trustDir: this.#dir.trustDir,
      document,
      hardwareType: this.options.hardwareType,
      runningVersion: session.running.version,
      ...(active?.sha256 ? { activeImageSha256: active.sha256 } : {}),
      now: new Date(this.options.now()),
      log: (line) => this.options.log(line),
      timeFactor: this.options.timeFactor,
    });
  }

  /**
   * Gets the verified image into a partial file: when the bandwidth policy lets it, as a delta
   * rebuilt from the active slot (falling back to the full image on any mismatch), else in full.
   * Waits while the policy says wait; a byte cap it cannot meet fails the job.
   *
   * Each transfer has a budget of download time from its signed length (`downloadLimits`);
   * waiting here does not count, and the time spent is saved in the job record as the transfer
   * runs. A transfer that runs out of it fails the job (`download-too-slow`, a delta patch too:
   * the full image would come over the same link), never a fall-back.
   */
  async #fetchImage(
    session: OtaSession,
    start: JobRecord,
  ): Promise<
    { ok: true; path: string; bytesDownloaded: number; record: JobRecord } | { ok: false; reason: string }
  > {
    let record = start;
    const { artifact } = record;
    const retryDelayMs = Math.max(1, 1000 * this.options.timeFactor);
    const log = (line: string) => this.options.log(`job ${record.jobId}: ${line}`);
    const budgetOf = (signedLength: number) => ({
      budget: downloadBudget(signedLength, this.options.downloadLimits),
      spentMs: record.downloadMs ?? 0,
      timeFactor: this.options.timeFactor,
      onSpent: async (spentMs: number) => {
        session.signal.throwIfAborted();
        record = { ...record, downloadMs: Math.round(spentMs) };
        await this.#jobs.write(record);
      },
    });
    for (;;) {
      const { policy, metered } = this.options.bandwidth?.() ?? { policy: undefined, metered: false };
      const delta = record.transfer !== 'full' ? record.delta : undefined;
      const decision = decideTransfer(policy, {
        metered,
        now: new Date(this.options.now()),
        image: { bytes: artifact.size },
        delta: delta ? { bytes: delta.size } : undefined,
      });
      if (decision.action === 'refuse') return { ok: false, reason: decision.reason };
      if (decision.action === 'wait') {
        const untilMs = decision.until
          ? decision.until.getTime() - this.options.now()
          : Number.POSITIVE_INFINITY;
        const pauseMs = Math.max(1, Math.min(untilMs, 60_000) * this.options.timeFactor);
        log(`waiting (${decision.reason}${decision.until ? ` until ${decision.until.toISOString()}` : ''})`);
        await sleep(pauseMs, undefined, { signal: session.signal });
        continue;
      }
      if (decision.mode === 'delta' && delta) {
        if (record.transfer !== 'delta') {
          record = { ...record, transfer: 'delta' };
          await this.#jobs.write(record);
        }
        const result = await rebuildFromDelta({
          patch: { url: delta.url, size: delta.size, sha256: delta.sha256 },
          baseImagePath: this.#dir.slotImage(record.fromSlot),
          base: { sha256: delta.baseSha256, size: (await this.#slots.readMeta(record.fromSlot))?.size ?? 0 },
          image: { sha256: artifact.sha256, size: artifact.size },
          partialPath: this.#dir.partialDownload(delta.sha256),
          outputPath: this.#dir.partialDownload(artifact.sha256),
          signal: session.signal,
          link: this.options.link,
          retryDelayMs,
          log,
          ...budgetOf(delta.size),
        });
        session.signal.throwIfAborted();
        if (result.ok)
          return { ok: true, path: result.path, bytesDownloaded: result.bytesDownloaded, record };
        const tooSlow = /^delta-patch-download-too-slow: (.*)$/.exec(result.reason);
        if (tooSlow) return { ok: false, reason: `download-too-slow: delta patch ${tooSlow[1]}` };
        log(`delta failed (${result.reason}); falling back to the full image`);
        record = { ...record, transfer: 'full', downloadMs: 0 };
        await this.#jobs.write(record);
        continue;
      }
      if (record.transfer !== 'full') {
        record = { ...record, transfer: 'full', downloadMs: 0 };
        await this.#jobs.write(record);
      }
      const result = await downloadArtifact({
        url: artifact.url,
        size: artifact.size,
        sha256: artifact.sha256,
        partialPath: this.#dir.partialDownload(artifact.sha256),
        signal: session.signal,
        link: this.options.link,
        retryDelayMs,
        log,
        ...budgetOf(artifact.size),
      });
      if (!result.ok) return { ok: false, reason: result.reason };
      return { ok: true, path: result.path, bytesDownloaded: artifact.size, record };
    }
  }

  async #trial(session: OtaSession, start: JobRecord | undefined): Promise<JobStep> {
    let record = start;
    if (record && record.phase !== 'trial') {
      record = { ...record, phase: 'trial' };
      await this.#jobs.write(record);
    }
    const soakSeconds = record?.document.healthCheckSeconds ?? 0;
    await sleep(soakSeconds * 1000 * this.options.timeFactor, undefined, { signal: session.signal });
    const verdict = await this.#checkHealth(session);
    session.signal.throwIfAborted();
    if (verdict.healthy) {
      record = await this.#decide({ stage: 'healthy', jobStatus: 'SUCCEEDED' }, record);
      await this.#slots.write(committed(session.running.slot));
      if (record) await this.#settle(session, record);
      else session.confirmed();
      return 'idle';
    }
    await this.#decide(
      { stage: 'rolled-back', jobStatus: 'FAILED', reason: 'health-check-failed', detail: verdict.detail },
      record,
    );
    await this.#slots.write(reverted(await this.#slots.read()));
    return 'reboot';
  }

  async #checkHealth(session: OtaSession): Promise<HealthVerdict> {
    const { slot, version } = session.running;
    const meta = await this.#slots.readMeta(slot);
    if (!meta) return { healthy: false, detail: 'slot has no metadata' };
    try {
      return await this.options.healthCheck({
        deviceId: this.options.deviceId,
        slot,
        version,
        imagePath: this.#dir.slotImage(slot),
        meta,
        signal: session.signal,
      });
    } catch (error) {
      if (session.signal.aborted) throw error;
      return { healthy: false, detail: `health check threw: ${(error as Error).message}` };
    }
  }

  /**
   * Moves the record to a stage and queues the stage's event and IN_PROGRESS update. The record,
   * with the event in it, is written first: a power cut before the outbox has them leaves the
   * event for the next start to queue (resume), with the same eventId and seq.
   */
  async #announce(
    session: OtaSession,
    record: JobRecord,
    stage: 'downloading' | 'installing' | 'rebooting',
    extra: { bytesDownloaded?: number; transfer?: OtaEventV1['transfer'] } = {},
  ): Promise<JobRecord> {
    session.signal.throwIfAborted();
    const event = this.#event(session, record, {
      eventId: this.#eventId(record, record.nextSeq),
      stage,
      seq: record.nextSeq,
      at: this.options.now(),
      bytesDownloaded: extra.bytesDownloaded,
      transfer: extra.transfer,
    });
    const next: JobRecord = { ...record, phase: stage, nextSeq: record.nextSeq + 1, announced: event };
    await this.#jobs.write(next);
    await this.#queueStage(session, event);
    return next;
  }

  /** Queues a stage event and its IN_PROGRESS update (again, after a restart: same ids). */
  async #queueStage(session: OtaSession, event: OtaEventV1): Promise<void> {
    session.signal.throwIfAborted();
    const fresh = !this.outbox.has(event.eventId);
    await this.outbox.append(
      { kind: 'ota-event', id: event.eventId, event },
      {
        kind: 'job-update',
        id: `u-${event.eventId}`,
        jobId: event.jobId,
        status: 'IN_PROGRESS',
        statusDetails: jobStatusDetails(event.stage),
      },
    );
    if (fresh) this.#emit(event);
    session.queued();
  }

  /** The eventId of the job's event `seq`: derived, so a replay of the event is the same event. */
  #eventId(record: Pick<JobRecord, 'jobId' | 'executionNumber'>, seq: number): string {
    return otaEventId(this.options.deviceId, record.jobId, record.executionNumber, seq);
  }

  /** Decides the job's outcome and reports it. */
  async #finish(session: OtaSession, record: JobRecord, outcome: Decision): Promise<void> {
    const decided = await this.#decide(outcome, record);
    if (decided) await this.#settle(session, decided);
  }

  /**
   * Writes the outcome into the job record (once: an outcome already there stands) and returns
   * the record. Before any boot-state change that the outcome explains.
   */
  async #decide(outcome: Decision, known?: JobRecord): Promise<JobRecord | undefined> {
    const record = known ?? (await this.#jobs.read());
    if (!record || record.outcome) return record;
    // The last stage's event is in the outbox by now (an outcome comes after its append).
    const { announced: _, ...rest } = record;
    const decided: JobRecord = {
      ...rest,
      nextSeq: record.nextSeq + 1,
      outcome: {
        ...outcome,
        eventId: this.#eventId(record, record.nextSeq),
        seq: record.nextSeq,
        at: this.options.now(),
      },
    };
    await this.#jobs.write(decided);
    return decided;
  }

  /**
   * Reports a decided outcome (idempotent: same ids) and closes the job, in this order: outbox,
   * `finished-jobs.json`, job record removed. A power cut anywhere in it settles again on restart.
   */
  async #settle(session: OtaSession, record: JobRecord): Promise<void> {
    const outcome = record.outcome;
    if (!outcome) return;
    session.signal.throwIfAborted();
    const event = this.#event(session, record, outcome);
    const fresh = !this.outbox.has(event.eventId);
    const statusDetails = jobStatusDetails(outcome.stage, {
      reason: outcome.reason,
      detail: outcome.detail,
      runningVersion: session.running.version,
    });
    await this.outbox.append(
      { kind: 'ota-event', id: event.eventId, event },
      {
        kind: 'job-update',
        id: `u-${outcome.eventId}`,
        jobId: record.jobId,
        status: outcome.jobStatus,
        statusDetails,
      },
    );
    await this.finished.add({
      jobId: record.jobId,
      ...(record.executionNumber === undefined ? {} : { executionNumber: record.executionNumber }),
      status: outcome.jobStatus,
      statusDetails,
      lastSeq: outcome.seq,
    });
    await this.#removePartials();
    await this.#jobs.remove();
    this.#currentJobId = undefined;
    if (fresh) this.#emit(event);
    session.queued();
    if (outcome.stage === 'healthy') session.confirmed();
  }

  async #reject(
    session: OtaSession,
    execution: JobExecution,
    rolloutId: string,
    reason: string,
    seq: number,
  ): Promise<void> {
    const { running } = session;
    const { jobId, executionNumber } = execution;
    this.options.log(`rejected job ${jobId}: ${reason}`);
    // Queued before finished-jobs.json: after a power cut in between the answer still goes out,
    // and a job handed out again before it did is refused again under the same ids.
    const event = buildOtaEvent({
      eventId: this.#eventId({ jobId, executionNumber }, seq),
      deviceId: this.options.deviceId,
      rolloutId,
      jobId,
      stage: 'failed',
      runningVersion: running.version,
      slot: running.slot,
      at: this.options.now(),
      seq,
      reason,
    });
    const statusDetails = jobStatusDetails('failed', { reason });
    const fresh = !this.outbox.has(event.eventId);
    await this.outbox.append(
      { kind: 'ota-event', id: event.eventId, event },
      { kind: 'job-update', id: `u-${event.eventId}`, jobId, status: 'REJECTED', statusDetails },
    );
    await this.finished.add({
      jobId,
      ...(executionNumber === undefined ? {} : { executionNumber }),
      status: 'REJECTED',
      statusDetails,
      lastSeq: seq,
    });
    if (fresh) this.#emit(event);
    session.queued();
  }

  /** Tells the embedding code; its mistakes must not break an update. */
  #emit(event: OtaEventV1): void {
    try {
      this.options.onEvent?.(event);
    } catch (error) {
      this.options.log(`onEvent threw: ${(error as Error).message}`);
    }
  }

  #event(
    session: OtaSession,
    record: JobRecord,
    facts: Pick<JobOutcome, 'eventId' | 'seq' | 'at'> & {
      stage: OtaStage;
      reason?: string | undefined;
      bytesDownloaded?: number | undefined;
      transfer?: OtaEventV1['transfer'] | undefined;
    },
  ): OtaEventV1 {
    return buildOtaEvent({
      deviceId: this.options.deviceId,
      rolloutId: record.document.rolloutId,
      jobId: record.jobId,
      runningVersion: session.running.version,
      slot: session.running.slot,
      eventId: facts.eventId,
      stage: facts.stage,
      seq: facts.seq,
      at: facts.at,
      reason: facts.reason,
      // Once the image is in, every event repeats how it came: events may be applied out of order
      // and a stale one is dropped, so the last one must carry it too.
      bytesDownloaded: facts.bytesDownloaded ?? record.bytesDownloaded,
      transfer:
        facts.transfer ??
        (record.bytesDownloaded !== undefined
          ? { mode: record.transfer ?? 'full', imageBytes: record.artifact.size }
          : undefined),
    });
  }

  /** Deletes partial downloads, except those for `keep` (image and delta of the current job). */
  async #removePartials(...keep: (string | undefined)[]): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.#dir.downloadsDir);
    } catch {
      return;
    }
    await Promise.all(
      names
        .filter((name) => !keep.some((sha256) => sha256 !== undefined && name === `${sha256}.part`))
        .map((name) => rm(join(this.#dir.downloadsDir, name), { force: true })),
    );
  }
}

type Decision = Pick<JobOutcome, 'stage' | 'jobStatus' | 'reason' | 'detail'>;

/** Chain failures that a later fetch may not repeat; the rest are verdicts. */
const TRANSIENT_TRUST_FAILURE = /^metadata-(unavailable|invalid|rollback)\b/;

const TRIAL_LOST: Decision = { stage: 'rolled-back', jobStatus: 'FAILED', reason: 'trial-interrupted' };

const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}
