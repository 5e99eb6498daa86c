/**
 * The components of one job, on the device: the slot component on the built-in A/B slots
 * (`boot-slots.ts`), every other one through its update-module handler (`device/update-modules`).
 * Each call acts on all of the job's components, in install order (rollback: reverse), and can run
 * again after a restart: it checks what is already done. It writes no job record and reports
 * nothing: the updater (`ota-updater.ts`) decides and records, this carries out.
 *
 * A component's failure comes back as a reason for the job's outcome: in a multi-component (v3)
 * job, `component <name>: <step>: <reason>` (steps `install-failed`, `reboot-failed`,
 * `verify-failed`, `health-check-failed`, `commit-failed`; a download failure is its own reason);
 * a v2 job keeps the plain reasons it always had.
 */
import { open } from 'node:fs/promises';
import { otherSlot, type Slot } from '../storage/device-state-dir';
import { UpdateModuleError } from '../update-modules/component-work-dir';
import { PAYLOAD_NAME_PATTERN } from '../update-modules/handler-contract';
import type { StepResult, UpdateModules } from '../update-modules/update-modules';
import { type BootSlots, committed, reverted, withTrial } from './boot-slots';
import type { ComponentFetch } from './component-download';
import type { InstalledComponentsStore } from './installed-components';
import type { ComponentProgress, JobRecord } from './ota-job-record';
import { componentUpdateOf, moduleComponents, slotComponent, toInstall } from './update-plan';

/** Why the job fails, for its outcome. */
export interface ComponentFailure {
  readonly reason: string;
}

export class ComponentInstaller {
  constructor(
    private readonly slots: BootSlots,
    /** The update modules of the current session (a stop or power cut kills a running handler). */
    private readonly modules: UpdateModules,
    private readonly installed: InstalledComponentsStore,
    private readonly now: () => number,
  ) {}

  /** The component's verified image is where installing puts it, for this job. */
  async inPlace(record: JobRecord, component: ComponentProgress): Promise<boolean> {
    const { image } = component;
    if (component.installer === 'slots')
      return this.slots.holdsImage(trialSlotOf(record), image.sha256, image.size);
    const status = await this.modules.status(component.name);
    return status !== undefined && status.files[0]?.sha256 === image.sha256;
  }

  /**
   * Each component in install order goes in place (the slot component into the inactive slot, a
   * module component into its work dir) and through its handler's install. `fetch` gets an image
   * not yet in place into its partial file (only hashed if it is complete there). Whether any of
   * them needs a reboot comes back.
   */
  async install(
    record: JobRecord,
    fetch: (component: ComponentProgress) => Promise<ComponentFetch>,
  ): Promise<{ readonly reboot: boolean } | { readonly failure: ComponentFailure }> {
    let reboot = false;
    for (const component of toInstall(record)) {
      if (!(await this.inPlace(record, component))) {
        const fetched = await fetch(component);
        if (!fetched.ok) return { failure: componentFailure(record, component, fetched.reason) };
        await this.#putInPlace(record, component, fetched.path);
      }
      if (component.installer === 'slots') {
        reboot = true;
        continue;
      }
      const installed = await moduleStep(() => this.modules.install(component.name));
      if (!installed.ok)
        return { failure: componentFailure(record, component, installed.reason, 'install-failed') };
      if (installed.reboot !== 'No') reboot = true;
    }
    return { reboot };
  }

  /** Handlers ready for the reboot (ArtifactReboot), then the slot pending in `boot.json`. */
  async prepareReboot(record: JobRecord): Promise<ComponentFailure | undefined> {
    const names = moduleComponents(record).map((c) => c.name);
    if (names.length > 0) {
      const prepared = await moduleStep(() => this.modules.prepareReboot(names));
      if (!prepared.ok) {
        const component = record.components.find((c) => c.name === prepared.component);
        const { reason } = prepared;
        return component ? componentFailure(record, component, reason, 'reboot-failed') : { reason };
      }
    }
    if (slotComponent(record))
      await this.slots.write(withTrial(await this.slots.read(), trialSlotOf(record)));
    return undefined;
  }

  /** Each handler's ArtifactVerifyReboot (nothing for those that needed no reboot). */
  async verifyAfterReboot(record: JobRecord): Promise<ComponentFailure | undefined> {
    for (const component of moduleComponents(record)) {
      const verified = await moduleStep(() => this.modules.verifyAfterReboot(component.name));
      if (!verified.ok) return componentFailure(record, component, verified.reason, 'verify-failed');
    }
    return undefined;
  }

  /** Each handler's HealthCheck. */
  async healthCheck(record: JobRecord): Promise<ComponentFailure | undefined> {
    for (const component of moduleComponents(record)) {
      const healthy = await moduleStep(() => this.modules.healthCheck(component.name));
      if (!healthy.ok) return componentFailure(record, component, healthy.reason, 'health-check-failed');
    }
    return undefined;
  }

  /**
   * Each handler's commit in install order, then the slot (`boot.json`; last, as it cannot fail
   * and a failed handler commit can still take it back) or, without a new slot, the running slot
   * relabelled with the release (the device now runs it where it is), then
   * `installed-components.json`.
   */
  async commit(record: JobRecord, runningSlot: Slot): Promise<ComponentFailure | undefined> {
    for (const component of moduleComponents(record)) {
      const done = await moduleStep(() => this.modules.commit(component.name));
      if (!done.ok) return componentFailure(record, component, done.reason, 'commit-failed');
    }
    const { release } = record.document;
    if (slotComponent(record)) {
      const state = await this.slots.read();
      if (state.pending === record.trialSlot) await this.slots.write(committed(state.pending));
    } else {
      const meta = await this.slots.readMeta(runningSlot);
      if (meta?.version !== release.version || meta.releaseId !== release.releaseId)
        await this.slots.writeMeta(runningSlot, {
          ...(meta ?? { installedAt: this.now() }),
          version: release.version,
          releaseId: release.releaseId,
        });
    }
    const installedAt = this.now();
    await this.installed.record(
      Object.fromEntries(
        toInstall(record).map((c) => [
          c.name,
          {
            version: c.version,
            sha256: c.image.sha256,
            handler: c.handler,
            releaseId: release.releaseId,
            installedAt,
          },
        ]),
      ),
    );
    return undefined;
  }

  /**
   * Puts every installed component back, in reverse install order: the slot by dropping it from
   * `boot.json` (a reboot back if it runs), each module by its handler's rollback (ready for one
   * reboot if any needs it; the next call after it finishes them). What could not go back is
   * named (its handler cannot roll back, or it was committed already).
   */
  async rollBack(
    record: JobRecord,
    reason: string,
    runningSlot: Slot,
  ): Promise<{ readonly reboot: boolean; readonly notBack: readonly string[] }> {
    const notBack: string[] = [];
    const needReboot: string[] = [];
    let reboot = false;
    for (const component of toInstall(record).reverse()) {
      if (component.installer === 'slots') {
        const state = await this.slots.read();
        if (state.pending === record.trialSlot) await this.slots.write(reverted(state));
        else if (state.active === record.trialSlot) notBack.push(`${component.name} (already committed)`);
        if (runningSlot === record.trialSlot && state.active !== record.trialSlot) reboot = true;
        continue;
      }
      if (!(await this.modules.status(component.name))) continue;
      const result = await this.modules.rollback(component.name, reason);
      if (result.kind === 'rollback-needs-reboot') needReboot.push(component.name);
      else if (result.kind === 'failed-no-rollback') notBack.push(`${component.name} (${result.detail})`);
    }
    if (needReboot.length > 0) {
      await this.modules.prepareReboot(needReboot);
      reboot = true;
    }
    return { reboot, notBack };
  }

  /** Whether the device has left the state it was in when the job started (or may have). */
  async changedAnything(record: JobRecord, runningSlot: Slot): Promise<boolean> {
    if (record.phase === 'trial' || record.phase === 'committing') return true;
    if (slotComponent(record)) {
      const state = await this.slots.read();
      if (state.pending === record.trialSlot || runningSlot === record.trialSlot) return true;
    }
    for (const name of await this.workDirs(record))
      if ((await this.modules.status(name))?.installed) return true;
    return false;
  }

  /** This job's module components that have a work dir. */
  async workDirs(record: JobRecord): Promise<string[]> {
    const present = new Set(await this.modules.components());
    return moduleComponents(record)
      .map((c) => c.name)
      .filter((name) => present.has(name));
  }

  /**
   * Before a job: work dirs of finished updates are removed. One still under way belongs to no
   * job (job.json is removed only once every component has an outcome): a job that would install
   * that component is refused (the reason comes back) rather than guess what to do with it.
   */
  async tidy(components: readonly ComponentProgress[]): Promise<string | undefined> {
    for (const name of await this.modules.components()) {
      const status = await this.modules.status(name);
      if (status && !status.outcome) {
        if (components.some((c) => c.name === name && !c.skip && c.installer === 'module'))
          return `component-busy: ${name} has an update under way (${status.state}) that no job owns`;
        continue;
      }
      await this.modules.discard(name);
    }
    return undefined;
  }

  /** Removes the job's work dirs once its outcome is reported; one still under way is kept. */
  async discard(record: JobRecord, log: (line: string) => void): Promise<void> {
    for (const name of await this.workDirs(record))
      await this.modules.discard(name).catch((error: unknown) => {
        if (!(error instanceof UpdateModuleError)) throw error;
        log(`${error.message}; work dir kept`);
      });
  }

  /** Moves a verified image into the inactive slot, or into the component's work dir. */
  async #putInPlace(record: JobRecord, component: ComponentProgress, path: string): Promise<void> {
    const { release } = record.document;
    const { image } = component;
    if (component.installer === 'slots') {
      await this.slots.install(trialSlotOf(record), path, {
        version: release.version,
        releaseId: release.releaseId,
        sha256: image.sha256,
        size: image.size,
        installedAt: this.now(),
      });
      return;
    }
    const name = await payloadName(component, path);
    await this.modules.prepare(componentUpdateOf(component), [{ name, path, sha256: image.sha256 }]);
  }
}

/** The slot the job's slot component goes into. */
export const trialSlotOf = (record: JobRecord): Slot => record.trialSlot ?? otherSlot(record.fromSlot);

/** A component's failure as the job's reason (see the header). */
export function componentFailure(
  record: JobRecord,
  component: ComponentProgress,
  reason: string,
  step?: string,
): ComponentFailure {
  if (record.document.schema === 'edgeops.ota.v2') return { reason: step ? `${step}: ${reason}` : reason };
  return { reason: `component ${component.name}: ${step ? `${step}: ` : ''}${reason}`.slice(0, 256) };
}

/**
 * Runs an update-modules call; a call out of order (`UpdateModuleError`, a bug or a state dir
 * changed by hand) fails the component instead of stopping the job for good.
 */
async function moduleStep<T extends StepResult | { ok: boolean }>(
  call: () => Promise<T>,
): Promise<T | { ok: false; reason: string; component?: undefined }> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof UpdateModuleError)) throw error;
    return { ok: false, reason: `update-module-error: ${error.message}` };
  }
}

/**
 * The payload's file name in the component's work dir, which tells handlers what it is: setting
 * `payload-name` if the release gives one, else the component's name, with `.tar.gz` or `.tar`
 * when the bytes are a gzip stream or a tar archive (the `directory` and `ml-model` handlers
 * extract those).
 */
async function payloadName(component: ComponentProgress, path: string): Promise<string> {
  const given = component.settings['payload-name'];
  if (given !== undefined && PAYLOAD_NAME_PATTERN.test(given)) return given;
  const head = Buffer.alloc(262);
  const file = await open(path, 'r');
  try {
    await file.read(head, 0, head.length, 0);
  } finally {
    await file.close();
  }
  if (head[0] === 0x1f && head[1] === 0x8b) return `${component.name}.tar.gz`;
  if (head.subarray(257, 262).toString('latin1') === 'ustar') return `${component.name}.tar`;
  return component.name;
}
