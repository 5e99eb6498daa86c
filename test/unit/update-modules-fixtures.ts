/** Temp dirs, handlers and payloads for the update-modules tests. */
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ComponentUpdate } from '../../device/update-modules/component-work-dir';
import { UpdateModules, type UpdateModulesOptions } from '../../device/update-modules/update-modules';

export const SHIPPED_HANDLERS_DIR = join(import.meta.dirname, '../../device/update-modules/handlers');
export const SHIPPED_HANDLERS = ['directory', 'ml-model', 'rootfs', 'single-file'] as const;

export interface Sandbox {
  readonly root: string;
  readonly handlersDir: string;
  /** The update modules' state dir. */
  readonly modulesDir: string;
  readonly payloadDir: string;
  /** Where the components live (targets). */
  readonly deviceDir: string;
  /** Writes one file in the payload dir and returns its path. */
  payload(name: string, content: string | Uint8Array): Promise<string>;
  modules(options?: Partial<UpdateModulesOptions>): UpdateModules;
  remove(): Promise<void>;
}

export async function makeSandbox(): Promise<Sandbox> {
  const root = await mkdtemp(join(tmpdir(), 'edgeops-update-modules-'));
  const sandbox: Sandbox = {
    root,
    handlersDir: join(root, 'handlers'),
    modulesDir: join(root, 'modules'),
    payloadDir: join(root, 'incoming'),
    deviceDir: join(root, 'device'),
    async payload(name, content) {
      const path = join(sandbox.payloadDir, name);
      await writeFile(path, content);
      return path;
    },
    modules: (options = {}) =>
      new UpdateModules({
        dir: sandbox.modulesDir,
        handlersDir: sandbox.handlersDir,
        durability: { fsync: false },
        killGraceMs: 200,
        ...options,
      }),
    remove: () => rm(root, { recursive: true, force: true }),
  };
  for (const dir of [sandbox.handlersDir, sandbox.payloadDir, sandbox.deviceDir]) await mkdir(dir);
  await chmod(sandbox.handlersDir, 0o755);
  return sandbox;
}

/** A handler script, installed 0755. */
export async function writeHandler(handlersDir: string, name: string, script: string): Promise<string> {
  const path = join(handlersDir, name);
  await writeFile(path, script);
  await chmod(path, 0o755);
  return path;
}

/** The shipped handlers, installed as a device package would (0755 in the handlers dir). */
export async function installShippedHandlers(handlersDir: string): Promise<void> {
  for (const name of SHIPPED_HANDLERS) {
    await copyFile(join(SHIPPED_HANDLERS_DIR, name), join(handlersDir, name));
    await chmod(join(handlersDir, name), 0o755);
  }
}

/**
 * A handler that logs every call (`<component> <STATE>`) to $CALLS_LOG and does what its config
 * (or $HANG_ON, for crash tests) says: `reboot` / `rollback` answers, `fail` a state, `hang` in one.
 */
export const SCRIPTED_HANDLER = `#!/bin/sh
set -eu
echo "$EDGEOPS_COMPONENT $1" >>"$CALLS_LOG"
case $1 in
  NeedsArtifactReboot) echo "\${EDGEOPS_CONFIG_REBOOT:-No}" ;;
  SupportsRollback) echo "\${EDGEOPS_CONFIG_ROLLBACK:-Yes}" ;;
esac
if [ "$1" = "\${EDGEOPS_CONFIG_FAIL:-}" ]; then
  echo "scripted failure in $1" >&2
  exit 1
fi
if [ "$1" = "\${EDGEOPS_CONFIG_HANG:-}" ] || [ "$1" = "\${HANG_ON:-}" ]; then
  sleep 30
fi
exit 0
`;

export function scriptedUpdate(component: string, config: Record<string, string> = {}): ComponentUpdate {
  return { component, handler: 'scripted', version: '2.0.0', previousVersion: '1.0.0', config };
}

/** The calls the scripted handler logged, as `<component> <STATE>` lines. */
export async function readCalls(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

/** Waits until `check` holds, polling; fails the test after `timeoutMs`. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A process that is gone, or a zombie nobody reaped (dead all the same). */
export async function processIsDead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

export async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch {
    return [];
  }
}
