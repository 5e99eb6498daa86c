/**
 * Runs one state of one update-module handler: `<handler> <STATE> <workdir>`, in its own process
 * group, with a deadline and a bounded capture of what it printed.
 *
 * 1. `resolveHandler` finds the executable by plain name in the handlers dir and refuses one that
 *    anybody but root (or the agent's own user) could have written.
 * 2. `runHandler` starts it with `detached` (a new session, so a new process group). Past its
 *    timeout the whole group gets SIGTERM, then SIGKILL once `killGraceMs` has passed with any
 *    member left; the run then counts as `handler-timeout`.
 * 3. Only the last `OUTPUT_TAIL_BYTES` of stdout and of stderr are kept; the failure reason quotes
 *    the last line of them.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NAME_PATTERN, OUTPUT_TAIL_BYTES, REASON_MAX_CHARS } from './handler-contract';

/** A handler that cannot be used: bad name, missing, not executable, writable by others. */
export class UpdateHandlerError extends Error {
  override readonly name = 'UpdateHandlerError';
}

/**
 * The path of handler `name` in `handlersDir`, following a symlink. Refused: a name that is not
 * one plain path segment; a dir or file owned by anyone but root or this process's user, or
 * writable by group or others; a file that is not regular or not executable by this process.
 */
export async function resolveHandler(handlersDir: string, name: string): Promise<string> {
  if (!NAME_PATTERN.test(name))
    throw new UpdateHandlerError(`handler name '${name}' is not a plain name ([a-z0-9][a-z0-9._-]*)`);
  const dir = await statOrRefuse(handlersDir, `handlers dir ${handlersDir}`);
  if (!dir.isDirectory()) throw new UpdateHandlerError(`handlers dir ${handlersDir} is not a directory`);
  refuseUntrusted(dir, `handlers dir ${handlersDir}`);
  let path: string;
  try {
    path = await realpath(join(handlersDir, name));
  } catch {
    throw new UpdateHandlerError(`no handler '${name}' in ${handlersDir}`);
  }
  const file = await statOrRefuse(path, `handler ${name}`);
  if (!file.isFile()) throw new UpdateHandlerError(`handler ${name} (${path}) is not a regular file`);
  try {
    if ((file.mode & 0o111) === 0) throw new Error('no execute bit');
    await access(path, constants.X_OK);
  } catch {
    throw new UpdateHandlerError(`handler ${name} (${path}) is not executable`);
  }
  refuseUntrusted(file, `handler ${name} (${path})`);
  return path;
}

export interface HandlerRunOptions {
  /** The handler's name, for the failure reason. */
  readonly name: string;
  readonly path: string;
  /** Passed as the first argument. */
  readonly state: string;
  /** Passed as the second argument; also the handler's working directory. */
  readonly workdir: string;
  /** The handler's whole environment. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly timeoutSeconds: number;
  /**
   * After SIGTERM to a handler's group past its timeout, how long before SIGKILL.
   * @default 2000
   */
  readonly killGraceMs?: number | undefined;
  /**
   * How much of stdout, and of stderr, to keep (the end).
   * @default OUTPUT_TAIL_BYTES
   */
  readonly outputLimitBytes?: number | undefined;
  /** Aborted: the agent stops or loses power. The group gets SIGKILL and the run rejects. */
  readonly signal?: AbortSignal | undefined;
}

export interface HandlerRun {
  readonly name: string;
  readonly state: string;
  /** null when killed by a signal or never started. */
  readonly exitCode: number | null;
  readonly exitSignal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly timeoutSeconds: number;
  /** Why it could not be started (spawn error), if so. */
  readonly startError?: string | undefined;
  /** The last `outputLimitBytes` of stdout. */
  readonly stdout: string;
  /** The last `outputLimitBytes` of stderr. */
  readonly stderr: string;
  /** More was printed than kept. */
  readonly outputTruncated: boolean;
  readonly seconds: number;
}

export async function runHandler(options: HandlerRunOptions): Promise<HandlerRun> {
  const { signal, timeoutSeconds } = options;
  signal?.throwIfAborted();
  const limit = options.outputLimitBytes ?? OUTPUT_TAIL_BYTES;
  const graceMs = options.killGraceMs ?? 2000;
  const started = performance.now();
  const stdout = new OutputTail(limit);
  const stderr = new OutputTail(limit);

  const child = spawn(options.path, [options.state, options.workdir], {
    cwd: options.workdir,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('exit', (code, exitSignal) => resolve({ code, signal: exitSignal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    },
  );

  let timedOut = false;
  let stopping: Promise<void> | undefined;
  const stop = (grace: number) => {
    if (child.pid !== undefined) stopping ??= stopGroup(child.pid, grace);
  };
  const timer = setTimeout(
    () => {
      timedOut = true;
      stop(graceMs);
    },
    Math.max(1, timeoutSeconds * 1000),
  );
  const onAbort = () => stop(0);
  signal?.addEventListener('abort', onAbort, { once: true });

  const result = await exited;
  clearTimeout(timer);
  signal?.removeEventListener('abort', onAbort);
  if (stopping) await stopping;
  // A process the handler left running (a service it started) may still hold the pipes: read
  // what is there, then let go of them.
  await Promise.race([closed, sleep(200)]);
  child.stdout.destroy();
  child.stderr.destroy();
  signal?.throwIfAborted();

  return {
    name: options.name,
    state: options.state,
    exitCode: result.code,
    exitSignal: result.signal,
    timedOut,
    timeoutSeconds,
    ...(result.error ? { startError: result.error.message } : {}),
    stdout: stdout.text(),
    stderr: stderr.text(),
    outputTruncated: stdout.truncated || stderr.truncated,
    seconds: (performance.now() - started) / 1000,
  };
}

/** Why a run failed, as an OTA reason (at most REASON_MAX_CHARS); undefined when it succeeded. */
export function describeFailure(run: HandlerRun): string | undefined {
  const what = `${run.name} ${run.state}`;
  if (run.timedOut) return `handler-timeout: ${what} after ${formatSeconds(run.timeoutSeconds)} s`;
  if (run.startError !== undefined)
    return clipReason(`handler-failed: ${what} did not start: ${run.startError}`);
  const said = lastLine(run.stderr) || lastLine(run.stdout);
  const tail = said ? `: ${said}` : '';
  if (run.exitSignal !== null)
    return clipReason(`handler-failed: ${what} killed by ${run.exitSignal}${tail}`);
  if (run.exitCode !== 0) return clipReason(`handler-failed: ${what} exit ${run.exitCode}${tail}`);
  return undefined;
}

/**
 * The answer a query state printed: its stdout, trimmed, must be one of `answers`; nothing at all
 * means `No` (as with Mender). Anything else is a failure reason.
 */
export function parseAnswer<A extends string>(
  run: HandlerRun,
  answers: readonly A[],
): { ok: true; answer: A } | { ok: false; reason: string } {
  const failure = describeFailure(run);
  if (failure) return { ok: false, reason: failure };
  const printed = run.stdout.trim() || 'No';
  const answer = answers.find((candidate) => candidate === printed);
  if (answer !== undefined) return { ok: true, answer };
  return {
    ok: false,
    reason: clipReason(
      `handler-bad-answer: ${run.name} ${run.state} printed '${printed.slice(0, 40)}', not ${answers.join('/')}`,
    ),
  };
}

export function clipReason(reason: string): string {
  return reason.length <= REASON_MAX_CHARS ? reason : `${reason.slice(0, REASON_MAX_CHARS - 1)}…`;
}

/** SIGTERM to the group, SIGKILL to whatever is left of it after `graceMs`. */
async function stopGroup(pgid: number, graceMs: number): Promise<void> {
  if (graceMs > 0) {
    signalGroup(pgid, 'SIGTERM');
    const deadline = performance.now() + graceMs;
    while (performance.now() < deadline) {
      if (!groupAlive(pgid)) return;
      await sleep(20);
    }
  }
  signalGroup(pgid, 'SIGKILL');
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nobody left in the group.
  }
}

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The end of a stream, in at most `limit` bytes plus one chunk of memory. */
class OutputTail {
  readonly #chunks: Buffer[] = [];
  #held = 0;
  #seen = 0;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#held += chunk.length;
    this.#seen += chunk.length;
    let first = this.#chunks[0];
    while (first && this.#held - first.length >= this.limit) {
      this.#chunks.shift();
      this.#held -= first.length;
      first = this.#chunks[0];
    }
  }

  get truncated(): boolean {
    return this.#seen > this.limit;
  }

  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

async function statOrRefuse(path: string, what: string) {
  try {
    return await stat(path);
  } catch (error) {
    throw new UpdateHandlerError(`${what}: ${(error as NodeJS.ErrnoException).code ?? 'cannot stat'}`);
  }
}

function refuseUntrusted(info: { uid: number; mode: number }, what: string): void {
  const self = process.getuid?.();
  if (info.uid !== 0 && info.uid !== self)
    throw new UpdateHandlerError(`${what} is owned by uid ${info.uid}, not root or the agent's user`);
  if ((info.mode & 0o022) !== 0)
    throw new UpdateHandlerError(
      `${what} is writable by group or others (mode ${(info.mode & 0o777).toString(8)})`,
    );
}

function lastLine(text: string): string {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  return (lines.at(-1) ?? '').trim();
}

const formatSeconds = (seconds: number) => (Number.isInteger(seconds) ? `${seconds}` : seconds.toFixed(1));
