/**
 * A device's agent as a real process, for runs that cut its power: the `edgeops-agent` daemon
 * started under `process-watchdog.py` (so it ends with this process, even when this one is
 * SIGKILLed), with an environment marker that every process it starts inherits: update-module
 * handlers run in process groups of their own, and a power cut must stop them too.
 *
 * `powerCut()` is the power going off: every process carrying the marker is frozen (SIGSTOP, scanned
 * again until no new one appears, so nothing forks or writes after the others stopped), then
 * SIGKILLed. No signal handler runs, no buffer is flushed by the process, no DISCONNECT is sent.
 * Page cache survives, unlike a real power cut: what this tests is that every state on disk
 * between two writes is one the agent recovers from, not the disk's own write ordering.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { findProcesses, type ProcessInfo } from '../scripts/local-aws/processes';
import { type Supervised, spawnSupervised } from '../scripts/local-aws/supervised';

/** The environment variable that marks a device's processes; its value names the device. */
export const POWER_DOMAIN_ENV = 'EDGEOPS_POWER_DOMAIN';

export interface DeviceProcessOptions {
  /** The program and its arguments (e.g. `[process.execPath, bundle, '--config', file]`). */
  readonly command: readonly [string, ...string[]];
  /** Unique to this device in this run: a power cut ends every process that carries it. */
  readonly powerDomain: string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Lines of output kept (stdout and stderr, interleaved). @default 400 */
  readonly keepLines?: number;
}

export class DeviceProcess {
  readonly #run: Supervised;
  readonly #lines: string[] = [];
  readonly #waiters = new Set<() => void>();
  #ended = false;

  private constructor(
    private readonly options: DeviceProcessOptions,
    run: Supervised,
  ) {
    this.#run = run;
    const keep = options.keepLines ?? 400;
    for (const stream of [run.child.stdout, run.child.stderr])
      if (stream)
        createInterface({ input: stream }).on('line', (line) => {
          this.#lines.push(line);
          if (this.#lines.length > keep) this.#lines.shift();
          for (const waiter of this.#waiters) waiter();
        });
    void run.exited.finally(() => {
      this.#ended = true;
      for (const waiter of this.#waiters) waiter();
    });
  }

  static start(options: DeviceProcessOptions): DeviceProcess {
    const [command, ...args] = options.command;
    const {
      NOTIFY_SOCKET: _,
      WATCHDOG_USEC: __,
      WATCHDOG_PID: ___,
      JOURNAL_STREAM: ____,
      ...inherited
    } = process.env;
    const run = spawnSupervised(command, args, {
      cwd: options.cwd,
      env: { ...inherited, NODE_NO_WARNINGS: '1', ...options.env, [POWER_DOMAIN_ENV]: options.powerDomain },
      stdio: 'pipe',
      graceSeconds: 5,
    });
    return new DeviceProcess(options, run);
  }

  /** The last lines of output. */
  get output(): readonly string[] {
    return this.#lines;
  }

  get running(): boolean {
    return !this.#ended;
  }

  /**
   * Resolves with the first match of `pattern` in a line printed from now on or already kept;
   * rejects when the process ends first, after `timeoutMs`, or when `signal` aborts.
   */
  line(pattern: RegExp, timeoutMs: number, signal?: AbortSignal): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const finish = (error?: Error, match?: RegExpExecArray) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        signal?.removeEventListener('abort', onAbort);
        if (match) resolve(match);
        else reject(error);
      };
      const check = () => {
        for (const line of this.#lines) {
          const match = pattern.exec(line);
          if (match) return finish(undefined, match);
        }
        if (this.#ended) finish(new Error(`the device process ended before printing ${pattern}`));
      };
      const onAbort = () => finish(signal?.reason as Error);
      const timer = setTimeout(
        () => finish(new Error(`no line matching ${pattern} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(check);
      check();
    });
  }

  /** The power goes off: every process of the device frozen, then killed; resolves once all are gone. */
  async powerCut(): Promise<void> {
    await powerCut(this.options.powerDomain);
    await this.#run.exited.catch(() => {});
  }

  /** A clean stop (SIGTERM to the whole group, SIGKILL after the grace period), then a sweep. */
  async stop(): Promise<void> {
    await this.#run.stop();
    await powerCut(this.options.powerDomain);
  }
}

/**
 * Freezes, then kills, every live process whose environment carries `POWER_DOMAIN_ENV=<domain>`,
 * whatever its process group; resolves once none is left.
 */
export async function powerCut(domain: string): Promise<void> {
  const frozen = new Map<number, ProcessInfo>();
  for (;;) {
    const fresh = inDomain(domain).filter((p) => !frozen.has(p.pid));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      frozen.set(p.pid, p);
      signal(p.pid, 'SIGSTOP');
    }
  }
  for (const p of frozen.values()) signal(p.pid, 'SIGKILL');
  const deadline = Date.now() + 5_000;
  while (inDomain(domain).length > 0) {
    if (Date.now() > deadline) throw new Error(`processes of ${domain} survived SIGKILL`);
    await sleep(10);
    for (const p of inDomain(domain)) signal(p.pid, 'SIGKILL');
  }
}

/** Live processes of the power domain (this process excluded). */
export function inDomain(domain: string): ProcessInfo[] {
  const variable = `${POWER_DOMAIN_ENV}=${domain}`;
  return withEnvironment((entries) => entries.includes(variable));
}

/** Live processes of every power domain whose name starts with `prefix` (e.g. a run's id). */
export function inDomainsStartingWith(prefix: string): ProcessInfo[] {
  const start = `${POWER_DOMAIN_ENV}=${prefix}`;
  return withEnvironment((entries) => entries.some((entry) => entry.startsWith(start)));
}

function withEnvironment(keep: (entries: string[]) => boolean): ProcessInfo[] {
  return findProcesses((info) => {
    if (info.pid === process.pid) return false;
    try {
      return keep(readFileSync(`/proc/${info.pid}/environ`, 'utf8').split('\0'));
    } catch {
      return false;
    }
  });
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}
