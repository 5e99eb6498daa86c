/**
 * Crash-safe small files: write a temp file, fsync it, rename it over the target, fsync the
 * directory. A reader sees the old content or the new, never half of either.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { z } from 'zod';

export interface DurabilityOptions {
  /**
   * fsync files and directories. Turn off only for simulations of many devices on one disk.
   * @default true
   */
  readonly fsync?: boolean;
  /**
   * Aborted when the power is gone (or another instance owns the state dir): from then on no
   * write lands. Checked before a write starts and again before the rename that commits it.
   */
  readonly signal?: AbortSignal | undefined;
  /**
   * Called at every write point (an atomic replacement, or a state file's removal) before it
   * starts, with the file's path. For simulations: throwing here is a power cut before that
   * write, and nothing of it lands.
   */
  readonly beforeWrite?: ((path: string) => void) | undefined;
}

/** One write point: the simulation hook, then no write once the power is gone. */
export function writePoint(path: string, options: DurabilityOptions = {}): void {
  options.beforeWrite?.(path);
  options.signal?.throwIfAborted();
}

let tempCounter = 0;

export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: DurabilityOptions = {},
): Promise<void> {
  const { fsync = true, signal } = options;
  writePoint(path, options);
  const temp = `${path}.${process.pid}.${++tempCounter}.tmp`;
  const file = await open(temp, 'w');
  try {
    await file.writeFile(data);
    if (fsync) await file.sync();
  } finally {
    await file.close();
  }
  try {
    signal?.throwIfAborted();
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  if (fsync) await syncDirectory(dirname(path));
}

/** Makes a rename or unlink in `dir` durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}

export async function writeJsonAtomic(path: string, value: unknown, options?: DurabilityOptions) {
  await writeFileAtomic(path, `${JSON.stringify(value)}\n`, options);
}

/**
 * Reads a JSON file through a schema: undefined when it does not exist. A file that exists but
 * does not parse throws, naming the file: state on disk is input too.
 */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
): Promise<z.output<S> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`Corrupt state file ${path}: not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw new Error(`Corrupt state file ${path}: ${parsed.error.message}`);
  return parsed.data;
}
