/**
 * One device's OTA updates: from a job execution to every component of a release installed and
 * confirmed, or all of them back where they were. It owns the state dir; the agent owns the MQTT
 * session and the reboots it asks for.
 *
 * 1. A job is parsed at the edge (v2: one image; v3: components per hardware type) and verified
 *    against the signed TUF metadata; the plan (`update-plan.ts`) lists this device's components
 *    in install order, each on the built-in A/B slots (`rootfs`) or an update module, and skips
 *    those whose signed image the device already runs. A malformed job, one for other hardware,
 *    or one it cannot install is REJECTED with a `failed` event, and nothing else changes.
 * 2. `downloading`: each needed component is downloaded (resumable, a delta where it can) and
 *    verified into a partial file, in order. `installing`: in order, the slot component goes into
 *    the inactive slot and each module component into its work dir and through its handler's
 *    install. Nothing needed at all: SUCCEEDED at once.
 * 3. `rebooting` (only if the slot component or a handler needs it): the inactive slot is marked
 *    pending in `boot.json`, handlers get ready, and the agent reboots once. Otherwise the new
 *    versions are tried in place.
 * 4. The trial: each trial boot spends one of `maxTrialBoots` attempts (default 3) first (the
 *    slot's counter in `boot.json`; without a slot on trial, `trialRuns` in the job record); then
 *    handlers verify the reboot, the device soaks for healthCheckSeconds (× time factor), and the
 *    agent's health check and each handler's HealthCheck run. Healthy: every component is
 *    committed (`healthy`, SUCCEEDED). Any failure, anywhere after something was installed: every
 *    installed component is rolled back in reverse order, with a reboot back if needed
 *    (`rolled-back`, FAILED, the reason naming the component and step). A trial cut short boots
 *    again while attempts are left; once they are all spent, the update is rolled back
 *    (`crash-before-confirm`, "N trial boots without a confirmation").
 * 5. Each stage is an event plus a job update, queued in the outbox in order. Nothing is lost to a
 *    power cut between two writes: a stage's event is written into the job record (with its seq
 *    and an eventId derived from job, execution and seq) before it is queued, and a restart
 *    queues it again; a decision to commit or roll back is written into the record before the
 *    first change it makes, an outcome before it is queued, and queued before
 *    `finished-jobs.json` and the record's removal. A replayed event keeps its eventId and seq, so
 *    the outbox holds it once and the cloud applies it once.
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
import { DEFAULT_HANDLERS_DIR, type HandlerState } from '../update-modules/handler-contract';
import { UpdateModules } from '../update-modules/update-modules';
import type { LinkShaper } from './artifact-download';
import {
  BootSlots,
  checkMaxTrialBoots,
  committed,
  DEFAULT_MAX_TRIAL_BOOTS,
  decideBoot,
  reverted,
} from './boot-slots';
import { type ComponentFetch, fetchComponent } from './component-download';
import { ComponentInstaller, componentFailure } from './component-install';
import type { DownloadLimits } from './download-budget';
import type { HealthCheck, HealthVerdict } from './health-check';
import { InstalledComponentsStore } from './installed-components';
import { checkJobDocument } from './job-document';
import { buildOtaEvent, jobStatusDetails, otaEventId } from './ota-events';
import {
  type ComponentProgress,
  FinishedJobs,
  type JobFailure,
  type JobOutcome,
  type JobRecord,
  JobRecordStore,
} from './ota-job-record';
import { OtaOutbox } from './ota-outbox';
import { installTrustRoot, verifyComponents } from './release-trust';
import {
  onSlots,
  planComponents,
  type RootfsInstaller,
  slotComponent,
  toInstall,
  transferTotals,
} from './update-plan';

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
   * The same limit holds for trials without a slot (components changed in place).
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
   * 8 KiB/s) for this device's hardware type; a v3 job document's limits for the hardware type
   * override these, field by field. A transfer that cannot finish within its budget fails the job
   * with `download-too-slow`.
   */
  readonly downloadLimits?: DownloadLimits | undefined;
  /**
   * How a component on the `rootfs` handler is installed: `slots`, the built-in A/B slot files
   * (simulated devices; any device whose root file system is those files), or `update-module`,
   * the `rootfs` handler in `updateModules.handlersDir` (RAUC on a real gateway).
   * @default 'slots'
   */
  readonly rootfs?: RootfsInstaller | undefined;
  /** Update modules for every component not on the A/B slots (docs/update-modules.md). */
  readonly updateModules?: UpdateModulesSettings | undefined;
  readonly onEvent?: ((event: OtaEventV1) => void) | undefined;
  readonly now: () => number;
  readonly log: (message: string) => void;
}

export interface UpdateModulesSettings {
  /** @default DEFAULT_HANDLERS_DIR (/usr/lib/edgeops/update-modules) */
  readonly handlersDir?: string | undefined;
  /** Seconds per handler state, over the defaults (DEFAULT_STATE_TIMEOUTS). */
  readonly timeouts?: Partial<Record<HandlerState, number>> | undefined;
  /** Added to every handler's environment (e.g. EDGEOPS_RESTART_COMMAND). */
  readonly env?: Readonly<Record<string, string>> | undefined;
  /** After SIGTERM to a handler past its timeout, how long before SIGKILL. @default 2000 */
  readonly killGraceMs?: number | undefined;
}

export interface RunningFirmware {
  readonly slot: Slot;
  /** The release the device runs (the slot's label; an update changed in place relabels it). */
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
  /**
   * The device confirmed a new version, `version` (after a reboot, the one it booted; changed in
   * place, a new one without a reboot): tell the shadow.
   */
  readonly confirmed: (version: string) => void;
}

/** `reboot`: the agent must restart into whatever `boot.json` now says. */
export type JobStep = 'idle' | 'reboot';

export class OtaUpdater {
  readonly #dir: DeviceStateDir;
  readonly #slots: BootSlots;
  readonly #jobs: JobRecordStore;
  readonly #installed: InstalledComponentsStore;
  readonly #maxTrialBoots: number;
  readonly #rootfs: RootfsInstaller;
  #currentJobId: string | undefined;
  /** This boot runs a release it committed in place (no reboot): what `running` says now. */
  #relabelled: RunningFirmware | undefined;

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
    this.#installed = new InstalledComponentsStore(this.#dir.installedComponentsFile, durability);
    this.#maxTrialBoots = options.maxTrialBoots ?? DEFAULT_MAX_TRIAL_BOOTS;
    this.#rootfs = options.rootfs ?? 'slots';
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
    this.#relabelled = undefined;
    let state = await this.#slots.initialize(this.options.factoryVersion, this.options.factoryImage);
    const record = await this.#jobs.read();
    const decided =
      record?.outcome !== undefined || ['committing', 'rolling-back'].includes(record?.phase ?? '');
    if (record && decided && state.pending !== null) {
      // A decision was made but the boot change it implies may not have landed: apply it.
      const keep = record.outcome ? record.outcome.stage === 'healthy' : record.phase === 'committing';
      state = keep && record.trialSlot === state.pending ? committed(state.pending) : reverted(state);
      await this.#slots.write(state);
    }
    const decision = decideBoot(state, this.#maxTrialBoots);
    if (decision.kind === 'trial') {
      const meta = await this.#slots.readMeta(decision.slot);
      if (meta) {
        await this.#slots.write(decision.next);
        return { slot: decision.slot, version: meta.version, trial: true };
      }
      await this.#markFailed(record, { stage: 'rolled-back', reason: 'trial-slot-empty' });
      await this.#slots.write(reverted(decision.next));
    } else if (decision.kind === 'revert-unconfirmed') {
      const boots = decision.trialBoots;
      await this.#markFailed(record, {
        stage: 'rolled-back',
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
    if (record.announced && !record.outcome && ANNOUNCED_PHASES.includes(record.phase) && !running.trial)
      await this.#queueStage(session, record.announced);
    if (record.outcome) {
      await this.#settle(session, record);
      return 'idle';
    }
    if (record.phase === 'rolling-back') return this.#rollBack(session, record);
    if (record.phase === 'committing') return this.#commit(session, record);
    if (running.trial && record.trialSlot === running.slot) return this.#trial(session, record);
    if (record.phase === 'trial') {
      // Without a slot on trial, the trial runs in place (or after a handler's reboot): again.
      if (!slotComponent(record)) return this.#trial(session, record);
      // The slot's trial ended without a decision on disk; judge by what runs now.
      return running.slot === record.trialSlot
        ? this.#commit(session, record)
        : this.#fail(session, record, { reason: 'trial-interrupted' });
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
    const plan = await this.#plan(session, check.document);
    const rolloutId = check.document.rolloutId;
    if (!plan.ok) {
      await this.#reject(session, execution, rolloutId, plan.reason, firstSeq);
      return 'idle';
    }
    const busy = await this.#components(session).tidy(plan.components);
    if (busy) {
      await this.#reject(session, execution, rolloutId, busy, firstSeq);
      return 'idle';
    }
    const running = this.#running(session);
    const record: JobRecord = {
      jobId: execution.jobId,
      ...(execution.executionNumber === undefined ? {} : { executionNumber: execution.executionNumber }),
      document: check.document,
      components: plan.components,
      ...(check.downloadLimits ? { downloadLimits: check.downloadLimits } : {}),
      phase: 'downloading',
      fromSlot: running.slot,
      fromVersion: running.version,
      trialSlot: otherSlot(running.slot),
      nextSeq: firstSeq,
    };
    await this.#jobs.write(record);
    this.#currentJobId = record.jobId;
    // The device already runs every component: nothing to change, the release is in place.
    if (toInstall(record).length === 0) return this.#commit(session, record);
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

  /**
   * Downloads what is missing (`downloading`), puts each component in place and runs its
   * handler's install, in order (`installing`), then gets ready for the one reboot if anything
   * needs it (`rebooting`), else tries the new versions in place. Every step can run again after
   * a restart: it checks what is already in place.
   */
  async #install(session: OtaSession, start: JobRecord): Promise<JobStep> {
    let record = start;
    const components = this.#components(session);
    if (record.phase === 'downloading') {
      const downloaded = await this.#downloadMissing(session, record);
      if ('failure' in downloaded) return this.#fail(session, downloaded.record, downloaded.failure);
      record = await this.#announce(session, downloaded.record, 'installing');
    }
    if (record.phase === 'installing') {
      const installed = await components.install(record, async (component): Promise<ComponentFetch> => {
        const fetched = await this.#fetch(session, record, component);
        session.signal.throwIfAborted();
        return fetched;
      });
      if ('failure' in installed) return this.#fail(session, record, installed.failure);
      // Nothing needs a reboot: the new versions run already; judge them in place.
      if (!installed.reboot) return this.#trial(session, record);
      record = await this.#announce(session, record, 'rebooting');
    }
    const failure = await components.prepareReboot(record);
    if (failure) return this.#fail(session, record, failure);
    session.signal.throwIfAborted();
    // With the slot, it is pending in boot.json: the next boot is its trial. Without, handlers are
    // ready: whatever start comes next is the reboot, and the trial follows it.
    if (!slotComponent(record)) await this.#jobs.write({ ...record, phase: 'trial' });
    return 'reboot';
  }

  /**
   * `downloading`: every component not yet downloaded nor in place, in order, into its partial
   * file. The record that comes back holds what each fetched (written with the next stage).
   */
  async #downloadMissing(
    session: OtaSession,
    start: JobRecord,
  ): Promise<{ record: JobRecord } | { record: JobRecord; failure: Omit<JobFailure, 'stage'> }> {
    let record = start;
    const components = this.#components(session);
    const missing: ComponentProgress[] = [];
    for (const component of toInstall(record)) {
      if (component.bytesDownloaded !== undefined) continue;
      // In place already (the inactive slot kept it from an earlier try): nothing to fetch.
      if (await components.inPlace(record, component))
        record = withComponent(record, { ...component, bytesDownloaded: 0 });
      else missing.push(component);
    }
    if (missing.length === 0) return { record };
    await this.#removePartials(...record.components.flatMap((c) => [c.image.sha256, c.delta?.sha256]));
    let partial = 0;
    for (const c of missing) partial += await sizeOf(this.#dir.partialDownload(c.image.sha256));
    record = await this.#announce(session, record, 'downloading', { bytesDownloaded: partial });
    const overCap = this.#overByteCap(missing);
    if (overCap) return { record, failure: { reason: overCap } };
    for (const component of missing) {
      const fetched = await this.#fetch(session, record, component);
      session.signal.throwIfAborted();
      if (!fetched.ok) return { record, failure: componentFailure(record, component, fetched.reason) };
      record = withComponent(record, fetched.component);
      // The last one is written with the `installing` stage.
      if (component !== missing.at(-1)) await this.#jobs.write(record);
    }
    return { record };
  }

  /**
   * The trial: handlers verify the reboot, then the soak, the agent's health check and each
   * handler's HealthCheck; healthy: commit everything. Without a slot on trial, a trial run is
   * spent in the record before it starts, as a trial boot is in `boot.json`.
   */
  async #trial(session: OtaSession, start: JobRecord | undefined): Promise<JobStep> {
    let record = start;
    if (record) {
      if (!slotComponent(record)) {
        const runs = record.trialRuns ?? 0;
        if (runs >= this.#maxTrialBoots)
          return this.#fail(session, record, {
            reason: 'crash-before-confirm',
            detail: `${runs} trial${runs === 1 ? '' : 's'} without a confirmation`,
          });
        record = { ...record, phase: 'trial', trialRuns: runs + 1 };
        await this.#jobs.write(record);
      } else if (record.phase !== 'trial') {
        record = { ...record, phase: 'trial' };
        await this.#jobs.write(record);
      }
      const unverified = await this.#components(session).verifyAfterReboot(record);
      if (unverified) return this.#fail(session, record, unverified);
    }
    const soakSeconds = record?.document.healthCheckSeconds ?? 0;
    await sleep(soakSeconds * 1000 * this.options.timeFactor, undefined, { signal: session.signal });
    const verdict = await this.#checkHealth(session);
    session.signal.throwIfAborted();
    if (!record) {
      // A slot on trial with no job on record: judged alone, kept or dropped.
      if (!verdict.healthy) {
        await this.#slots.write(reverted(await this.#slots.read()));
        return 'reboot';
      }
      await this.#slots.write(committed(session.running.slot));
      session.confirmed(session.running.version);
      return 'idle';
    }
    if (!verdict.healthy)
      return this.#fail(session, record, { reason: 'health-check-failed', detail: verdict.detail });
    const unhealthy = await this.#components(session).healthCheck(record);
    if (unhealthy) return this.#fail(session, record, unhealthy);
    return this.#commit(session, record);
  }

  /**
   * Makes the update permanent, once decided (`committing` on disk first): every component
   * (`ComponentInstaller.commit`), then `healthy`. Without a new slot the device now runs the
   * release where it is, under the release's version. A handler whose commit fails fails the
   * job: what is not yet committed is rolled back.
   */
  async #commit(session: OtaSession, start: JobRecord): Promise<JobStep> {
    let record = start;
    if (record.phase !== 'committing') {
      record = { ...record, phase: 'committing' };
      await this.#jobs.write(record);
    }
    const running = this.#running(session);
    const failure = await this.#components(session).commit(record, running.slot);
    if (failure) return this.#fail(session, record, failure);
    if (!slotComponent(record)) this.#relabelled = { ...running, version: record.document.release.version };
    await this.#finish(session, record, { stage: 'healthy', jobStatus: 'SUCCEEDED' });
    return 'idle';
  }

  /**
   * The job failed: nothing changed yet, it fails at once; else the decision to roll back is
   * written first (`rolling-back`, with the reason) and every installed component goes back.
   */
  async #fail(session: OtaSession, record: JobRecord, failure: Omit<JobFailure, 'stage'>): Promise<JobStep> {
    const components = this.#components(session);
    const changed = await components.changedAnything(record, this.#running(session).slot);
    if (!changed && (await components.workDirs(record)).length === 0) {
      await this.#finish(session, record, { stage: 'failed', jobStatus: 'FAILED', ...failure });
      return 'idle';
    }
    const rolling: JobRecord = {
      ...record,
      phase: 'rolling-back',
      failure: { stage: changed ? 'rolled-back' : 'failed', ...failure },
    };
    await this.#jobs.write(rolling);
    return this.#rollBack(session, rolling);
  }

  /**
   * Puts every installed component back (`ComponentInstaller.rollBack`), rebooting if that needs
   * it and going on after the reboot. Then the outcome: the failure's, or `failed` naming the
   * components that could not go back.
   */
  async #rollBack(session: OtaSession, record: JobRecord): Promise<JobStep> {
    const failure = record.failure ?? { stage: 'rolled-back' as const, reason: 'rolled-back' };
    const { reboot, notBack } = await this.#components(session).rollBack(
      record,
      failure.reason,
      this.#running(session).slot,
    );
    if (reboot) return 'reboot';
    const details = [
      failure.detail,
      notBack.length > 0 ? `not rolled back: ${notBack.join(', ')}` : undefined,
    ];
    const detail = details.filter((d) => d !== undefined).join('; ');
    await this.#finish(session, record, {
      stage: notBack.length > 0 ? 'failed' : failure.stage,
      jobStatus: 'FAILED',
      reason: failure.reason,
      ...(detail ? { detail } : {}),
    });
    return 'idle';
  }

  /**
   * Verifies the release against the signed metadata before anything is downloaded, then plans
   * it for this device. Fetching the metadata can fail for passing reasons (the network, a
   * publication half written), so those failures get two more tries; every other refusal is final
   * at once.
   */
  async #plan(session: OtaSession, document: JobRecord['document']) {
    for (let attempt = 1; ; attempt++) {
      const verdict = await this.#verifyOnce(session, document);
      if (verdict.ok) {
        const running = this.#running(session);
        const active = await this.#slots.readMeta(running.slot);
        return planComponents(verdict.components, {
          rootfs: this.#rootfs,
          activeSlot: { sha256: active?.sha256, version: running.version },
          installed: await this.#installed.read(),
          handlersDir: this.options.updateModules?.handlersDir ?? DEFAULT_HANDLERS_DIR,
        });
      }
      if (attempt >= 3 || !TRANSIENT_TRUST_FAILURE.test(verdict.reason)) return verdict;
      this.options.log(`release verification failed (${verdict.reason}); trying again`);
      await sleep(5_000 * attempt * this.options.timeFactor, undefined, { signal: session.signal });
    }
  }

  async #verifyOnce(session: OtaSession, document: JobRecord['document']) {
    if (!(await exists(this.#dir.trustRootFile)))
      return { ok: false as const, reason: 'no-trust-root: this device was registered without a trust root' };
    const running = this.#running(session);
    const active = await this.#slots.readMeta(running.slot);
    return verifyComponents({
      trustDir: this.#dir.trustDir,
      document,
      hardwareType: this.options.hardwareType,
      runningVersion: running.version,
      // Deltas rebuild from the image the device keeps: the active slot's, for the slot component.
      baseImageSha256: ({ handler }) => (onSlots(handler, this.#rootfs) ? active?.sha256 : undefined),
      now: new Date(this.options.now()),
      log: (line) => this.options.log(line),
      timeFactor: this.options.timeFactor,
    });
  }

  /** The bandwidth policy's byte cap, against every component still to download (cheapest way each). */
  #overByteCap(components: readonly ComponentProgress[]): string | undefined {
    const cap = this.options.bandwidth?.().policy?.maxBytesPerUpdate;
    if (cap === undefined) return undefined;
    const bytes = components.reduce(
      (sum, c) => sum + (c.delta && c.delta.size < c.image.size ? c.delta.size : c.image.size),
      0,
    );
    return bytes > cap ? `byte-cap-exceeded: needs ${bytes} bytes, cap ${cap}` : undefined;
  }

  /** Gets one component's verified image into its partial file (`component-download.ts`). */
  async #fetch(session: OtaSession, record: JobRecord, component: ComponentProgress) {
    let current = record;
    const prefix = record.document.schema === 'edgeops.ota.v2' ? '' : `component ${component.name}: `;
    const base =
      component.installer === 'slots'
        ? {
            path: this.#dir.slotImage(record.fromSlot),
            size: (await this.#slots.readMeta(record.fromSlot))?.size ?? 0,
          }
        : undefined;
    return fetchComponent(
      {
        dir: this.#dir,
        signal: session.signal,
        timeFactor: this.options.timeFactor,
        link: this.options.link,
        limits: { ...this.options.downloadLimits, ...record.downloadLimits },
        bandwidth: this.options.bandwidth,
        now: this.options.now,
        log: (line) => this.options.log(`job ${record.jobId}: ${prefix}${line}`),
        base,
        save: async (progress) => {
          current = withComponent(current, progress);
          await this.#jobs.write(current);
        },
      },
      component,
    );
  }

  async #checkHealth(session: OtaSession): Promise<HealthVerdict> {
    const { slot, version } = this.#running(session);
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
   * the record. Every change the outcome stands for is made by then (commits, rollbacks).
   */
  async #decide(outcome: Decision, known: JobRecord): Promise<JobRecord | undefined> {
    const record = known;
    if (record.outcome) return record;
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
   * Writes the decision to roll back into the job record before boot() changes the boot state
   * for it; a job already decided keeps its decision.
   */
  async #markFailed(record: JobRecord | undefined, failure: JobFailure): Promise<void> {
    if (!record || record.outcome || record.phase === 'rolling-back') return;
    await this.#jobs.write({ ...record, phase: 'rolling-back', failure });
  }

  /**
   * Reports a decided outcome (idempotent: same ids) and closes the job, in this order: outbox,
   * `finished-jobs.json`, the job's update-module work dirs and partial downloads removed, job
   * record removed. A power cut anywhere in it settles again on restart.
   */
  async #settle(session: OtaSession, record: JobRecord): Promise<void> {
    const outcome = record.outcome;
    if (!outcome) return;
    session.signal.throwIfAborted();
    const running = this.#running(session);
    const event = this.#event(session, record, outcome);
    const fresh = !this.outbox.has(event.eventId);
    const statusDetails = jobStatusDetails(outcome.stage, {
      reason: outcome.reason,
      detail: outcome.detail,
      runningVersion: running.version,
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
    await this.#components(session).discard(record, (line: string) =>
      this.options.log(`job ${record.jobId}: ${line}`),
    );
    await this.#removePartials();
    await this.#jobs.remove();
    this.#currentJobId = undefined;
    if (fresh) this.#emit(event);
    session.queued();
    if (outcome.stage === 'healthy') session.confirmed(running.version);
  }

  async #reject(
    session: OtaSession,
    execution: JobExecution,
    rolloutId: string,
    reason: string,
    seq: number,
  ): Promise<void> {
    const running = this.#running(session);
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
    const running = this.#running(session);
    // Once every image is in, every event repeats how they came: events may be applied out of
    // order and a stale one is dropped, so the last one must carry it too.
    const totals = transferTotals(record);
    return buildOtaEvent({
      deviceId: this.options.deviceId,
      rolloutId: record.document.rolloutId,
      jobId: record.jobId,
      runningVersion: running.version,
      slot: running.slot,
      eventId: facts.eventId,
      stage: facts.stage,
      seq: facts.seq,
      at: facts.at,
      reason: facts.reason,
      bytesDownloaded: facts.bytesDownloaded ?? totals?.bytesDownloaded,
      transfer: facts.transfer ?? totals?.transfer,
    });
  }

  /** What runs now: as booted, or as relabelled by an update committed in place since. */
  #running(session: OtaSession): RunningFirmware {
    return this.#relabelled ?? session.running;
  }

  /** The job's components, for this session: a stop or a power cut kills a running handler. */
  #components(session: OtaSession): ComponentInstaller {
    const settings = this.options.updateModules;
    const modules = new UpdateModules({
      dir: this.#dir.updateModulesDir,
      handlersDir: settings?.handlersDir,
      timeouts: settings?.timeouts,
      env: settings?.env,
      killGraceMs: settings?.killGraceMs,
      durability: { ...this.options.durability, signal: this.power.signal },
      signal: AbortSignal.any([session.signal, this.power.signal]),
      log: (line) => this.options.log(line),
    });
    return new ComponentInstaller(this.#slots, modules, this.#installed, this.options.now);
  }

  /** Deletes partial downloads, except those for `keep` (images and deltas of the current job). */
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

/** Phases whose last stage event a restart queues again (later ones queued it before they began). */
const ANNOUNCED_PHASES: readonly JobRecord['phase'][] = ['downloading', 'installing', 'rebooting'];

/** Chain failures that a later fetch may not repeat; the rest are verdicts. */
const TRANSIENT_TRUST_FAILURE = /^metadata-(unavailable|invalid|rollback)\b/;

/** The record with `component` (by name) replaced. */
function withComponent(record: JobRecord, component: ComponentProgress): JobRecord {
  return { ...record, components: record.components.map((c) => (c.name === component.name ? component : c)) };
}

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
