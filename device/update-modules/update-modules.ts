/**
 * Drives update-module handlers through an update, one component at a time, with each
 * component's place in its sequence on disk (`<dir>/work/<component>/state.json`) so that any
 * call can be repeated after a crash and picks up where the component was.
 *
 * The steps are separate calls so that the updater can run several components all or nothing
 * (docs/update-modules.md, "Several components"):
 *
 * 1. `prepare` each component (payload verified by the agent, moved into its work dir);
 * 2. `install` each, in order;
 * 3. `prepareReboot` all, and reboot once if it says so;
 * 4. `verifyAfterReboot` each, then `healthCheck` each, then `commit` each;
 * 5. on any failure, `rollback` every component, in reverse order (`prepareReboot` and reboot again
 *    if a rollback says `rollback-needs-reboot`, then `rollback` again to finish).
 *
 * A step that fails records the failure: from then on the component only rolls back. A step
 * whose handler was cut short by a crash is re-run when that is safe (queries, Download, commit,
 * rollback, cleanup) and counts as a failure otherwise (`interrupted: ArtifactInstall`,
 * `interrupted: ArtifactVerifyReboot`, `interrupted: HealthCheck`): a device that died while the
 * new version was going in or being judged must not keep it. Calls out of order throw
 * `UpdateModuleError`. One caller at a time.
 */
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DurabilityOptions } from '../storage/atomic-file';
import {
  type ComponentOutcome,
  type ComponentRecord,
  ComponentUpdate,
  ComponentWorkDir,
  type PayloadSource,
  UpdateModuleError,
} from './component-work-dir';
import {
  DEFAULT_HANDLERS_DIR,
  DEFAULT_STATE_TIMEOUTS,
  type HandlerState,
  REBOOT_ANSWERS,
  type RebootAnswer,
  ROLLBACK_ANSWERS,
} from './handler-contract';
import {
  clipReason,
  describeFailure,
  type HandlerRun,
  parseAnswer,
  resolveHandler,
  runHandler,
  UpdateHandlerError,
} from './handler-runner';

export interface UpdateModulesOptions {
  /** The update modules' own state dir (`work/`, `components/`), e.g. `<stateDir>/update-modules`. */
  readonly dir: string;
  /** @default DEFAULT_HANDLERS_DIR (/usr/lib/edgeops/update-modules) */
  readonly handlersDir?: string | undefined;
  /** Seconds per state, over `DEFAULT_STATE_TIMEOUTS`. */
  readonly timeouts?: Partial<Record<HandlerState, number>> | undefined;
  /** @default 2000 (see `HandlerRunOptions.killGraceMs`) */
  readonly killGraceMs?: number | undefined;
  /**
   * Added to the agent's environment for every handler: device settings such as
   * `EDGEOPS_RESTART_COMMAND`, or a `PATH`.
   */
  readonly env?: Readonly<Record<string, string>> | undefined;
  readonly durability?: DurabilityOptions | undefined;
  /** Aborted when the agent stops or loses power: the running handler is killed, the call rejects. */
  readonly signal?: AbortSignal | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

export type StepResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export type InstallResult =
  | {
      readonly ok: true;
      /** What NeedsArtifactReboot said. */
      readonly reboot: RebootAnswer;
      /** A reboot into the new version was already prepared (a repeated call after it). */
      readonly rebooted: boolean;
    }
  | { readonly ok: false; readonly reason: string };

export type RebootResult =
  /** `reboot`: reboot the device now (once), then continue with verifyAfterReboot / rollback. */
  | { readonly ok: true; readonly reboot: boolean }
  | { readonly ok: false; readonly component: string; readonly reason: string };

export type RollbackResult =
  | Exclude<ComponentOutcome, { kind: 'committed' }>
  /** The previous version is back in place but needs a reboot: prepareReboot, reboot, rollback again. */
  | { readonly kind: 'rollback-needs-reboot'; readonly reason: string };

/** Forward states in order; a component that is not rolling back is at one of them. */
const FORWARD: readonly ComponentRecord['state'][] = [
  'Prepared',
  'Download',
  'ArtifactInstall',
  'NeedsArtifactReboot',
  'ArtifactReboot',
  'ArtifactVerifyReboot',
  'HealthCheck',
  'ArtifactCommit',
  'Cleanup',
];

export class UpdateModules {
  readonly #handlersDir: string;
  readonly #timeouts: Readonly<Record<HandlerState, number>>;
  readonly #log: (line: string) => void;

  constructor(private readonly options: UpdateModulesOptions) {
    this.#handlersDir = options.handlersDir ?? DEFAULT_HANDLERS_DIR;
    this.#timeouts = { ...DEFAULT_STATE_TIMEOUTS, ...options.timeouts };
    this.#log = options.log ?? (() => {});
  }

  /**
   * Starts a component's update: validates it, moves the payload into a fresh work dir and
   * writes the header. Throws `UpdateModuleError` when the component has an update under way.
   */
  async prepare(update: ComponentUpdate, payload: readonly PayloadSource[]): Promise<void> {
    const parsed = ComponentUpdate.safeParse(update);
    if (!parsed.success)
      throw new UpdateModuleError(
        `invalid component update: ${parsed.error.issues.map(describeIssue).join('; ')}`,
      );
    const dir = this.#dir(parsed.data.component);
    const existing = await dir.read();
    if (existing && !existing.outcome)
      throw new UpdateModuleError(`component ${dir.component} has an update under way (${existing.state})`);
    await dir.prepare(parsed.data, payload);
  }

  /** The component's record, or undefined when it has no work dir. */
  async status(component: string): Promise<ComponentRecord | undefined> {
    return this.#dir(component).read();
  }

  /** Components with a work dir (under way, or finished and not yet discarded). */
  async components(): Promise<string[]> {
    try {
      return (await readdir(join(this.options.dir, 'work'))).sort();
    } catch {
      return [];
    }
  }

  /** Removes a finished component's work dir. Refuses one whose update is under way. */
  async discard(component: string): Promise<void> {
    const dir = this.#dir(component);
    const record = await dir.read();
    if (record && !record.outcome)
      throw new UpdateModuleError(`component ${component} has an update under way (${record.state})`);
    await dir.remove();
  }

  /** Download, ArtifactInstall, NeedsArtifactReboot. */
  async install(component: string): Promise<InstallResult> {
    const dir = this.#dir(component);
    let record = await this.#read(dir);
    const blocked = blockedBy(record);
    if (blocked !== undefined) return { ok: false, reason: blocked };
    if (record.outcome || passed(record, 'NeedsArtifactReboot')) return installed(record);
    if (record.state === 'ArtifactInstall' && !record.done)
      return this.#fail(dir, record, 'interrupted: ArtifactInstall');
    for (const state of ['Download', 'ArtifactInstall'] as const) {
      if (passed(record, state)) continue;
      const step = await this.#run(dir, record, state);
      if (step.failure) return this.#fail(dir, step.record, step.failure);
      record = await this.#done(dir, step.record);
    }
    const asked = await this.#ask(dir, record, 'NeedsArtifactReboot', REBOOT_ANSWERS);
    if (!asked.ok) return this.#fail(dir, asked.record, asked.reason);
    return installed(await this.#done(dir, asked.record, { needsReboot: asked.answer }));
  }

  /**
   * Gets components ready for one reboot: those installed that need one (ArtifactReboot runs for
   * `Yes`; `Automatic` needs none) and those rolled back that need one (ArtifactRollbackReboot).
   * A handler's ArtifactReboot may reboot the device itself; each component's record already
   * says a reboot is under way. Components that need none are passed over.
   */
  async prepareReboot(components: readonly string[]): Promise<RebootResult> {
    let reboot = false;
    for (const component of components) {
      const dir = this.#dir(component);
      const record = await this.#read(dir);
      if (record.outcome) continue;
      if (record.failure === undefined) {
        if (record.state === 'ArtifactReboot') reboot = true;
        else if (record.state === 'NeedsArtifactReboot' && record.done && record.needsReboot !== 'No') {
          reboot = true;
          const result = await this.#rebootStep(dir, record, 'ArtifactReboot', { rebooted: true });
          if (result) return { ok: false, component, reason: await this.#failReason(dir, result) };
        } else if (!passed(record, 'NeedsArtifactReboot'))
          throw new UpdateModuleError(
            `component ${component}: prepareReboot before install (${record.state})`,
          );
      } else if (record.state === 'ArtifactRollbackReboot') reboot = true;
      else if (record.state === 'ArtifactRollback' && record.done && needsRollbackReboot(record)) {
        reboot = true;
        const result = await this.#rebootStep(dir, record, 'ArtifactRollbackReboot');
        // The previous version is in place; whether it booted is for ArtifactVerifyRollbackReboot.
        if (result) this.#log(`update-modules: ${component} ArtifactRollbackReboot: ${result.failure}`);
      }
    }
    return { ok: true, reboot };
  }

  /** ArtifactVerifyReboot, for a component that was rebooted into; nothing for one that needed no reboot. */
  async verifyAfterReboot(component: string): Promise<StepResult> {
    const dir = this.#dir(component);
    const record = await this.#read(dir);
    const blocked = blockedBy(record);
    if (blocked !== undefined) return { ok: false, reason: blocked };
    if (record.outcome || passed(record, 'ArtifactVerifyReboot')) return OK;
    if (record.state === 'ArtifactVerifyReboot')
      return this.#fail(dir, record, 'interrupted: ArtifactVerifyReboot');
    if (record.state === 'NeedsArtifactReboot' && record.done && record.needsReboot === 'No') return OK;
    if (record.state !== 'ArtifactReboot')
      throw new UpdateModuleError(`component ${component}: verifyAfterReboot at ${where(record)}`);
    return this.#step(dir, record, 'ArtifactVerifyReboot');
  }

  /** HealthCheck (exit 0: healthy). A check cut short by a crash counts as unhealthy. */
  async healthCheck(component: string): Promise<StepResult> {
    const dir = this.#dir(component);
    const record = await this.#read(dir);
    const blocked = blockedBy(record);
    if (blocked !== undefined) return { ok: false, reason: blocked };
    if (record.outcome || passed(record, 'HealthCheck')) return OK;
    if (record.state === 'HealthCheck') return this.#fail(dir, record, 'interrupted: HealthCheck');
    const ready =
      (record.state === 'ArtifactVerifyReboot' && record.done) ||
      (record.state === 'NeedsArtifactReboot' && record.done && record.needsReboot === 'No');
    if (!ready) throw new UpdateModuleError(`component ${component}: healthCheck at ${where(record)}`);
    return this.#step(dir, record, 'HealthCheck');
  }

  /** ArtifactCommit (re-run if a crash cut it short), then Cleanup: the outcome is `committed`. */
  async commit(component: string): Promise<StepResult> {
    const dir = this.#dir(component);
    let record = await this.#read(dir);
    if (record.outcome?.kind === 'committed') return OK;
    const blocked = blockedBy(record);
    if (blocked !== undefined) return { ok: false, reason: blocked };
    if ((record.state === 'HealthCheck' && record.done) || record.state === 'ArtifactCommit') {
      if (!record.done || record.state === 'HealthCheck') {
        const step = await this.#run(dir, record, 'ArtifactCommit');
        if (step.failure) return this.#fail(dir, step.record, step.failure);
        record = await this.#done(dir, step.record);
      }
    } else if (record.state !== 'Cleanup')
      throw new UpdateModuleError(`component ${component}: commit at ${where(record)}`);
    await this.#close(dir, record, { kind: 'committed' }, false);
    return OK;
  }

  /**
   * Rolls the component back (or goes on rolling it back), `reason` being why; the first reason
   * given stands. Not installed yet: Cleanup only. Else SupportsRollback (No: failed-no-rollback),
   * ArtifactRollback, and after a reboot into the new version, a rollback reboot and
   * ArtifactVerifyRollbackReboot; then ArtifactFailure and Cleanup. A committed component stays.
   */
  async rollback(component: string, reason: string): Promise<RollbackResult> {
    const dir = this.#dir(component);
    let record = await this.#read(dir);
    const committed = {
      kind: 'failed-no-rollback',
      reason: clipReason(reason),
      detail: 'already committed',
    } as const;
    if (record.outcome) return record.outcome.kind === 'committed' ? committed : record.outcome;
    if (record.closing) {
      if (record.closing.kind === 'committed') return committed;
      return this.#close(dir, record, record.closing, record.installed);
    }
    if (record.failure === undefined) {
      if ((record.state === 'ArtifactCommit' && record.done) || record.state === 'Cleanup') return committed;
      record = await this.#write(dir, { ...record, failure: clipReason(reason) });
      this.#log(`update-modules: ${component} rolling back: ${record.failure}`);
    }
    const why = record.failure ?? reason;
    if (!record.installed) return this.#close(dir, record, { kind: 'rolled-back', reason: why }, false);

    const rollingBack = ['ArtifactRollback', 'ArtifactRollbackReboot', 'ArtifactVerifyRollbackReboot'];
    if (!rollingBack.includes(record.state) && !(record.state === 'SupportsRollback' && record.done)) {
      const asked = await this.#ask(dir, record, 'SupportsRollback', ROLLBACK_ANSWERS);
      record = await this.#done(dir, asked.record, { supportsRollback: asked.ok ? asked.answer : 'No' });
      if (!asked.ok || asked.answer === 'No') {
        const detail = asked.ok ? `${record.update.handler} cannot roll back` : asked.reason;
        return this.#close(dir, record, { kind: 'failed-no-rollback', reason: why, detail }, true);
      }
    }
    if (record.state === 'SupportsRollback' && record.supportsRollback !== 'Yes') {
      const detail = `${record.update.handler} cannot roll back`;
      return this.#close(dir, record, { kind: 'failed-no-rollback', reason: why, detail }, true);
    }
    if (record.state === 'SupportsRollback' || (record.state === 'ArtifactRollback' && !record.done)) {
      const step = await this.#run(dir, record, 'ArtifactRollback');
      if (step.failure)
        return this.#close(
          dir,
          step.record,
          { kind: 'failed-no-rollback', reason: why, detail: step.failure },
          true,
        );
      record = await this.#done(dir, step.record);
    }
    if (record.state === 'ArtifactRollback' && needsRollbackReboot(record))
      return { kind: 'rollback-needs-reboot', reason: why };
    if (
      record.state === 'ArtifactRollbackReboot' ||
      (record.state === 'ArtifactVerifyRollbackReboot' && !record.done)
    ) {
      const step = await this.#run(dir, record, 'ArtifactVerifyRollbackReboot');
      if (step.failure)
        return this.#close(
          dir,
          step.record,
          { kind: 'failed-no-rollback', reason: why, detail: step.failure },
          true,
        );
      record = await this.#done(dir, step.record);
    }
    return this.#close(dir, record, { kind: 'rolled-back', reason: why }, true);
  }

  #dir(component: string): ComponentWorkDir {
    return new ComponentWorkDir(this.options.dir, component, this.options.durability);
  }

  async #read(dir: ComponentWorkDir): Promise<ComponentRecord> {
    const record = await dir.read();
    if (!record) throw new UpdateModuleError(`component ${dir.component} has no prepared update`);
    return record;
  }

  async #write(dir: ComponentWorkDir, record: ComponentRecord): Promise<ComponentRecord> {
    await dir.write(record);
    return record;
  }

  async #done(
    dir: ComponentWorkDir,
    record: ComponentRecord,
    extra: Partial<ComponentRecord> = {},
  ): Promise<ComponentRecord> {
    return this.#write(dir, { ...record, ...extra, done: true });
  }

  async #fail(
    dir: ComponentWorkDir,
    record: ComponentRecord,
    reason: string,
  ): Promise<{ ok: false; reason: string }> {
    return { ok: false, reason: await this.#failReason(dir, { record, failure: reason }) };
  }

  async #failReason(
    dir: ComponentWorkDir,
    { record, failure }: { record: ComponentRecord; failure: string },
  ) {
    const reason = clipReason(failure);
    if (record.failure === undefined) await this.#write(dir, { ...record, failure: reason });
    this.#log(`update-modules: ${dir.component} failed: ${reason}`);
    return reason;
  }

  /** Runs a forward state that either passes or fails the component. */
  async #step(dir: ComponentWorkDir, record: ComponentRecord, state: HandlerState): Promise<StepResult> {
    const step = await this.#run(dir, record, state);
    if (step.failure) return this.#fail(dir, step.record, step.failure);
    await this.#done(dir, step.record);
    return OK;
  }

  /** Enters a reboot state, running the handler only for `Yes`; returns the failure, if any. */
  async #rebootStep(
    dir: ComponentWorkDir,
    record: ComponentRecord,
    state: 'ArtifactReboot' | 'ArtifactRollbackReboot',
    extra: Partial<ComponentRecord> = {},
  ): Promise<{ record: ComponentRecord; failure: string } | undefined> {
    if (record.needsReboot !== 'Yes') {
      await this.#write(dir, { ...record, ...extra, state, done: true });
      return undefined;
    }
    const step = await this.#run(dir, record, state, extra);
    if (step.failure) return { record: step.record, failure: step.failure };
    await this.#done(dir, step.record);
    return undefined;
  }

  /** Records that `state` is entered (not done), then runs the handler in it. */
  async #run(
    dir: ComponentWorkDir,
    start: ComponentRecord,
    state: HandlerState,
    extra: Partial<ComponentRecord> = {},
  ): Promise<{ record: ComponentRecord; run?: HandlerRun; failure?: string }> {
    const record = await this.#write(dir, {
      ...start,
      ...extra,
      state,
      done: false,
      ...(state === 'ArtifactInstall' ? { installed: true } : {}),
    });
    const name = record.update.handler;
    let path: string;
    try {
      path = await resolveHandler(this.#handlersDir, name);
    } catch (error) {
      if (!(error instanceof UpdateHandlerError)) throw error;
      const failure = clipReason(`handler-unusable: ${error.message}`);
      this.#log(`update-modules: ${dir.component} ${state}: ${failure}`);
      return { record, failure };
    }
    await mkdir(dir.stateDir, { recursive: true, mode: 0o700 });
    await mkdir(dir.tmpDir, { recursive: true });
    const timeoutSeconds = this.#timeouts[state];
    const run = await runHandler({
      name,
      path,
      state,
      workdir: dir.root,
      env: { ...inheritedEnv(this.options.env), ...dir.environment(record, state, timeoutSeconds) },
      timeoutSeconds,
      killGraceMs: this.options.killGraceMs,
      signal: this.options.signal,
    });
    const failure = describeFailure(run);
    this.#logRun(dir.component, run, failure);
    return failure ? { record, run, failure } : { record, run };
  }

  async #ask<A extends string>(
    dir: ComponentWorkDir,
    record: ComponentRecord,
    state: 'NeedsArtifactReboot' | 'SupportsRollback',
    answers: readonly A[],
  ): Promise<
    { ok: true; answer: A; record: ComponentRecord } | { ok: false; reason: string; record: ComponentRecord }
  > {
    const step = await this.#run(dir, record, state);
    if (!step.run) return { ok: false, reason: step.failure ?? `${state} did not run`, record: step.record };
    return { ...parseAnswer(step.run, answers), record: step.record };
  }

  /**
   * Ends the component's update: the outcome is noted as closing, ArtifactFailure runs (after a
   * failed install), then Cleanup; their failures are logged, not fatal. Then the outcome is on
   * disk and the payload and tmp dir are freed.
   */
  async #close<O extends ComponentOutcome>(
    dir: ComponentWorkDir,
    start: ComponentRecord,
    outcome: O,
    failureState: boolean,
  ): Promise<O> {
    let record = start.closing ? start : await this.#write(dir, { ...start, closing: outcome });
    const pending = (state: HandlerState) => !(record.state === state && record.done);
    if (failureState && record.state !== 'Cleanup' && pending('ArtifactFailure')) {
      const step = await this.#run(dir, record, 'ArtifactFailure');
      record = step.failure ? step.record : await this.#done(dir, step.record);
    }
    if (pending('Cleanup')) {
      const step = await this.#run(dir, record, 'Cleanup');
      record = step.failure ? step.record : await this.#done(dir, step.record);
    }
    await this.#write(dir, { ...record, outcome });
    await dir.release();
    this.#log(
      `update-modules: ${dir.component} ${outcome.kind}${'reason' in outcome ? `: ${outcome.reason}` : ''}`,
    );
    return outcome;
  }

  #logRun(component: string, run: HandlerRun, failure: string | undefined): void {
    const took = `${run.seconds.toFixed(1)} s`;
    if (!failure) {
      this.#log(`update-modules: ${component} ${run.state} ok (${took})`);
      return;
    }
    const output = [
      run.stdout.trim() && `stdout (end):\n${run.stdout.trimEnd()}`,
      run.stderr.trim() && `stderr (end):\n${run.stderr.trimEnd()}`,
    ].filter(Boolean);
    this.#log(
      `update-modules: ${component} ${failure} (${took})${output.length ? `\n${output.join('\n')}` : ''}`,
    );
  }
}

const OK: StepResult = { ok: true };

/** Why a component can only roll back now, if so. */
function blockedBy(record: ComponentRecord): string | undefined {
  if (record.outcome && record.outcome.kind !== 'committed') return record.outcome.reason;
  return record.failure;
}

/** The forward sequence got past `state` (entered something later, or finished it). */
function passed(record: ComponentRecord, state: ComponentRecord['state']): boolean {
  const at = FORWARD.indexOf(record.state);
  const target = FORWARD.indexOf(state);
  return at > target || (at === target && record.done);
}

function installed(record: ComponentRecord): InstallResult {
  return { ok: true, reboot: record.needsReboot ?? 'No', rebooted: record.rebooted };
}

function needsRollbackReboot(record: ComponentRecord): boolean {
  return record.rebooted && record.needsReboot !== undefined && record.needsReboot !== 'No';
}

const where = (record: ComponentRecord) => `${record.state}${record.done ? '' : ' (unfinished)'}`;

/** The agent's environment plus the configured extras, without settings of another component. */
function inheritedEnv(extra: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries({ ...process.env, ...extra }))
    if (value !== undefined && !key.startsWith('EDGEOPS_CONFIG_')) env[key] = value;
  return env;
}

const describeIssue = (issue: { path: PropertyKey[]; message: string }) =>
  `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`;
