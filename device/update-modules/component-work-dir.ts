/**
 * One component's work dir for one update, `<dir>/work/<component>/`:
 *
 * ```
 * state.json              where the component's sequence is (the runner's; handlers leave it alone)
 * header/component.json   the facts: component, handler, version, previous version, target,
 *                         config, payload files with their SHA-256 and size
 * payload/                the verified payload file(s), put there by the agent
 * tmp/                    the handler's scratch space (backup markers); kept until the update ends
 * ```
 *
 * and, per component across updates, `<dir>/components/<component>/` (EDGEOPS_STATE_DIR).
 * Every small file is replaced atomically (device/storage/atomic-file.ts).
 */
import { copyFile, mkdir, rename, rm, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { z } from 'zod';
import { type DurabilityOptions, readJsonFile, syncDirectory, writeJsonAtomic } from '../storage/atomic-file';
import { sha256OfFile } from '../storage/file-digest';
import {
  CONFIG_KEY_PATTERN,
  configEnvName,
  HANDLER_STATES,
  type HandlerState,
  NAME_PATTERN,
  PAYLOAD_NAME_PATTERN,
  REBOOT_ANSWERS,
  ROLLBACK_ANSWERS,
  VERSION_PATTERN,
} from './handler-contract';

/** A component's update as the updater describes it (from the release it verified). */
export const ComponentUpdate = z.strictObject({
  /** Unique on the device: names the work dir and the handler's state dir. */
  component: z.string().regex(NAME_PATTERN),
  /** The handler's name in the handlers dir (`single-file`, `directory`, `ml-model`, `rootfs`, …). */
  handler: z.string().regex(NAME_PATTERN),
  version: z.string().regex(VERSION_PATTERN),
  /** The version installed now, if any. */
  previousVersion: z.string().regex(VERSION_PATTERN).optional(),
  /** Where the component lives (a file, a directory, a model root); each handler says which. */
  target: z
    .string()
    .refine((path) => isAbsolute(path) && normalize(path) === path && path !== '/', {
      message: 'must be a normalized absolute path other than /',
    })
    .optional(),
  /** Handler settings from the release (`unit`, `health-url`, `keep`, …); env EDGEOPS_CONFIG_<KEY>. */
  config: z.record(z.string().regex(CONFIG_KEY_PATTERN), z.string().max(4096)).optional(),
});
export type ComponentUpdate = z.infer<typeof ComponentUpdate>;

export const PayloadFile = z.strictObject({
  name: z.string().regex(PAYLOAD_NAME_PATTERN),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});
export type PayloadFile = z.infer<typeof PayloadFile>;

/** How a component's update ended. */
export const ComponentOutcome = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('committed') }),
  /** Back on the previous version (or never left it). */
  z.strictObject({ kind: z.literal('rolled-back'), reason: z.string() }),
  /** The update failed and the component could not be put back: it needs attention. */
  z.strictObject({ kind: z.literal('failed-no-rollback'), reason: z.string(), detail: z.string() }),
]);
export type ComponentOutcome = z.infer<typeof ComponentOutcome>;

export const COMPONENT_STEPS = ['Prepared', ...HANDLER_STATES] as const;

export const ComponentRecord = z.strictObject({
  format: z.literal(1),
  update: ComponentUpdate,
  files: z.array(PayloadFile).min(1),
  /** The last state entered ('Prepared': the work dir is laid out, no handler ran yet). */
  state: z.enum(COMPONENT_STEPS),
  /** That state exited 0. Not done after a restart: the state was cut short by a crash. */
  done: z.boolean(),
  /** ArtifactInstall was entered: the device may have changed. */
  installed: z.boolean(),
  /** A reboot into the new version was prepared: the new version may have run. */
  rebooted: z.boolean(),
  needsReboot: z.enum(REBOOT_ANSWERS).optional(),
  supportsRollback: z.enum(ROLLBACK_ANSWERS).optional(),
  /** Why the component is rolling back (the first failure); set, no forward step runs again. */
  failure: z.string().optional(),
  /** The outcome being closed (ArtifactFailure, Cleanup still to run). */
  closing: ComponentOutcome.optional(),
  outcome: ComponentOutcome.optional(),
});
export type ComponentRecord = z.infer<typeof ComponentRecord>;

/** A payload file the agent downloaded and verified, to move into the work dir. */
export interface PayloadSource {
  /** Its name in `payload/`. */
  readonly name: string;
  readonly path: string;
  /** Checked again once in place, when given. */
  readonly sha256?: string | undefined;
}

/** Misuse of the work dir or the sequence: a second update of a busy component, a call out of order. */
export class UpdateModuleError extends Error {
  override readonly name = 'UpdateModuleError';
}

export class ComponentWorkDir {
  readonly root: string;
  /** The handler's own dir for this component, kept across updates (EDGEOPS_STATE_DIR). */
  readonly stateDir: string;

  constructor(
    modulesDir: string,
    readonly component: string,
    private readonly durability: DurabilityOptions = {},
  ) {
    if (!NAME_PATTERN.test(component))
      throw new UpdateModuleError(`component name '${component}' is invalid`);
    this.root = join(modulesDir, 'work', component);
    this.stateDir = join(modulesDir, 'components', component);
  }

  get recordFile() {
    return join(this.root, 'state.json');
  }
  get headerDir() {
    return join(this.root, 'header');
  }
  get headerFile() {
    return join(this.headerDir, 'component.json');
  }
  get payloadDir() {
    return join(this.root, 'payload');
  }
  get tmpDir() {
    return join(this.root, 'tmp');
  }

  async read(): Promise<ComponentRecord | undefined> {
    return readJsonFile(this.recordFile, ComponentRecord);
  }

  async write(record: ComponentRecord): Promise<void> {
    await writeJsonAtomic(this.recordFile, record, this.durability);
  }

  /**
   * Lays out a fresh work dir: payload moved in (renamed; copied across file systems) and
   * hashed, header written, then `state.json` last, so a work dir without it is half made.
   */
  async prepare(update: ComponentUpdate, payload: readonly PayloadSource[]): Promise<ComponentRecord> {
    if (payload.length === 0) throw new UpdateModuleError(`component ${this.component}: no payload`);
    const names = new Set<string>();
    for (const { name } of payload) {
      if (!PAYLOAD_NAME_PATTERN.test(name) || names.has(name))
        throw new UpdateModuleError(
          `component ${this.component}: payload name '${name}' is invalid or repeated`,
        );
      names.add(name);
    }
    await rm(this.root, { recursive: true, force: true });
    for (const dir of [this.payloadDir, this.headerDir, this.tmpDir]) await mkdir(dir, { recursive: true });
    const files: PayloadFile[] = [];
    for (const source of payload) {
      const path = join(this.payloadDir, source.name);
      await moveFile(source.path, path);
      const sha256 = await sha256OfFile(path);
      if (source.sha256 !== undefined && source.sha256 !== sha256)
        throw new UpdateModuleError(`component ${this.component}: payload ${source.name} SHA-256 differs`);
      files.push({ name: source.name, sha256, size: (await stat(path)).size });
    }
    if (this.durability.fsync !== false) await syncDirectory(this.payloadDir);
    await writeJsonAtomic(this.headerFile, header(update, files), this.durability);
    const record: ComponentRecord = {
      format: 1,
      update,
      files,
      state: 'Prepared',
      done: true,
      installed: false,
      rebooted: false,
    };
    await this.write(record);
    return record;
  }

  /** Frees the payload and the handler's scratch space once the outcome is on disk. */
  async release(): Promise<void> {
    await rm(this.payloadDir, { recursive: true, force: true });
    await rm(this.tmpDir, { recursive: true, force: true });
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }

  /** The EDGEOPS_* variables for one state of this component. */
  environment(record: ComponentRecord, state: HandlerState, timeoutSeconds: number): Record<string, string> {
    const { update } = record;
    const main = record.files[0];
    const env: Record<string, string> = {
      EDGEOPS_STATE: state,
      EDGEOPS_WORKDIR: this.root,
      EDGEOPS_COMPONENT: update.component,
      EDGEOPS_HANDLER: update.handler,
      EDGEOPS_VERSION: update.version,
      EDGEOPS_PREVIOUS_VERSION: update.previousVersion ?? '',
      EDGEOPS_TARGET: update.target ?? '',
      EDGEOPS_PAYLOAD: main ? join(this.payloadDir, main.name) : '',
      EDGEOPS_SHA256: main?.sha256 ?? '',
      EDGEOPS_STATE_DIR: this.stateDir,
      EDGEOPS_TIMEOUT: String(timeoutSeconds),
    };
    for (const [key, value] of Object.entries(update.config ?? {})) env[configEnvName(key)] = value;
    return env;
  }
}

function header(update: ComponentUpdate, files: readonly PayloadFile[]) {
  return {
    component: update.component,
    handler: update.handler,
    version: update.version,
    previousVersion: update.previousVersion ?? null,
    target: update.target ?? null,
    sha256: files[0]?.sha256 ?? null,
    files,
    config: update.config ?? {},
  };
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await rm(from, { force: true });
  }
}
