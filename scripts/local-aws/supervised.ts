/**
 * Runs a command under `process-watchdog.py`: in its own process group, which ends (everything
 * the command spawned included) when `stop()` is called, when the command exits, or when this
 * Node process dies, even by SIGKILL. Local AWS, the CDK CLI and pip all run this way, so no
 * way of ending a local run or a test run leaves them behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { groupMembers } from './processes';

const WATCHDOG = fileURLToPath(new URL('./process-watchdog.py', import.meta.url));

/** The Python that runs the watchdog and creates the venv (stdlib only). */
export const python = () => process.env.EDGEOPS_PYTHON ?? 'python3';

export interface SupervisedOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Where the command's stdout and stderr go. @default 'pipe' */
  readonly stdio?: 'pipe' | 'inherit' | 'ignore' | number;
  /** How long the group gets to exit on SIGTERM before SIGKILL. @default 10 */
  readonly graceSeconds?: number;
}

export interface Supervised {
  /** The watchdog; its pid is the group's id. */
  readonly child: ChildProcess;
  readonly pgid: number;
  /** The command's exit code (128 + signal when a signal ended it). */
  readonly exited: Promise<number>;
  readonly running: boolean;
  /** Ends the whole group; resolves once the watchdog and every member are gone. */
  stop(): Promise<void>;
}

export function spawnSupervised(
  command: string,
  args: readonly string[],
  options: SupervisedOptions = {},
): Supervised {
  const grace = options.graceSeconds ?? 10;
  const output = options.stdio ?? 'pipe';
  const child = spawn(python(), [WATCHDOG, String(process.pid), String(grace), '--', command, ...args], {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true, // a new session: the group leader, out of reach of the terminal's Ctrl-C
    stdio: ['ignore', output, output],
  });
  let running = true;
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (error) => {
      running = false;
      reject(new Error(`Could not run ${python()} (set EDGEOPS_PYTHON to a Python 3): ${error.message}`));
    });
    // 'close', not 'exit': the output is all read by then (the group is gone, so are its pipes).
    child.once('close', (code, signal) => {
      running = false;
      resolve(code ?? 128 + (signal ? (SIGNAL_NUMBERS[signal] ?? 9) : 9));
    });
  });
  exited.catch(() => {});
  const pgid = child.pid ?? -1;
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (running && pgid > 0) {
        try {
          process.kill(pgid, 'SIGTERM'); // the watchdog ends its group, then itself
        } catch {}
        const timedOut = await Promise.race([
          exited.then(
            () => false,
            () => false,
          ),
          sleep((grace + 5) * 1000, undefined, { ref: false }).then(() => true),
        ]);
        if (timedOut) {
          try {
            process.kill(-pgid, 'SIGKILL');
          } catch {}
          await exited.catch(() => {});
        }
      }
      // Whatever outlived the watchdog (it was SIGKILLed itself, say) still has its group id.
      if (pgid > 0)
        for (const member of groupMembers(pgid)) {
          try {
            process.kill(member.pid, 'SIGKILL');
          } catch {}
        }
    })();
    return stopping;
  };
  return {
    child,
    pgid,
    exited,
    get running() {
      return running;
    },
    stop,
  };
}

const SIGNAL_NUMBERS: Partial<Record<NodeJS.Signals, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGKILL: 9,
  SIGTERM: 15,
};

export class CommandFailedError extends Error {
  constructor(
    readonly command: string,
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${command} exited with code ${code}:\n${stdout}\n${stderr}`.trimEnd());
  }
}

/**
 * Runs a command to its end under the watchdog. Resolves with its output on exit code 0; rejects
 * with CommandFailedError otherwise, or with the signal's reason once `signal` aborts (the whole
 * group is stopped first).
 */
export async function runSupervised(
  command: string,
  args: readonly string[],
  options: SupervisedOptions & { readonly signal?: AbortSignal } = {},
): Promise<{ stdout: string; stderr: string }> {
  options.signal?.throwIfAborted();
  const run = spawnSupervised(command, args, options);
  let stdout = '';
  let stderr = '';
  run.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  run.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const onAbort = () => void run.stop();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await run.exited;
    options.signal?.throwIfAborted();
    if (code !== 0) throw new CommandFailedError([command, ...args].join(' '), code, stdout, stderr);
    return { stdout, stderr };
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    await run.stop();
  }
}
