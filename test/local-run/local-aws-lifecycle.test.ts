/**
 * Local AWS never outlives the run that started it: real MiniStack processes, started from a
 * throwaway child process that is then killed the hard way. Each test is bounded in time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  freePort,
  LOCAL_AWS_ID_VARIABLE,
  PROJECT_DIR,
  startLocalAws,
  stopLeftoverEmulators,
} from '../../scripts/local-aws/ministack';
import { commandLine, processesWithEnv, terminate } from '../../scripts/local-aws/processes';
import { runSupervised } from '../../scripts/local-aws/supervised';

// Node itself (not the tsx CLI, which would put a parent process between us and the holder).
const NODE_ARGS = ['--import', 'tsx'];
const HOLDER = join(PROJECT_DIR, 'test', 'local-run', 'fixtures', 'hold-local-aws.ts');

interface Held {
  readonly child: ChildProcess;
  readonly id: string;
  readonly processes: number[];
}

const children: ChildProcess[] = [];
const ids: string[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  // Whatever a failed test left: never leave an emulator behind ourselves.
  for (const id of ids.splice(0)) await terminate(processesWithEnv(LOCAL_AWS_ID_VARIABLE, id), 1_000);
});

/** Starts local AWS with three Lambda workers in a child process; resolves once it is all up. */
function holdLocalAws(env: Record<string, string> = {}): Promise<Held> {
  const child = spawn(process.execPath, [...NODE_ARGS, HOLDER], {
    cwd: PROJECT_DIR,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      const held = JSON.parse(line) as { id: string; processes: number[] };
      ids.push(held.id);
      resolve({ child, ...held });
    });
    child.once('exit', (code) => reject(new Error(`holder exited with ${code} before local AWS was up`)));
  });
}

/** Polls until no process carries the emulator's id, or `timeoutMs` passes; returns what is left. */
async function survivorsAfter(id: string, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processesWithEnv(LOCAL_AWS_ID_VARIABLE, id);
    if (left.length === 0 || Date.now() > deadline) return left.map((p) => `${p.pid} ${commandLine(p.pid)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('local AWS lifecycle', () => {
  it('ends MiniStack and every Lambda worker when the process that started it is SIGKILLed', async () => {
    const held = await holdLocalAws();
    const running = processesWithEnv(LOCAL_AWS_ID_VARIABLE, held.id).map((p) => commandLine(p.pid));
    // The watchdog, MiniStack and at least one Lambda worker (a Node process).
    expect(running.some((c) => c.includes('process-watchdog.py'))).toBe(true);
    expect(running.some((c) => c.includes('venv/bin/ministack'))).toBe(true);
    expect(running.filter((c) => /\bnode\b/.test(c)).length).toBeGreaterThanOrEqual(1);

    held.child.kill('SIGKILL');

    expect(await survivorsAfter(held.id, 20_000)).toEqual([]);
  }, 180_000);

  it('stops, at the next start, an emulator left behind by a run that is gone', async () => {
    // The watchdog is killed too, as if this run predated it or it was killed itself.
    const held = await holdLocalAws({ KILL_WATCHDOG: '1' });
    held.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await survivorsAfter(held.id, 0)).length).toBeGreaterThan(0);
    const lines: string[] = [];

    const stopped = await stopLeftoverEmulators((line) => lines.push(line));

    expect(stopped).toBeGreaterThanOrEqual(1);
    expect(lines.join('\n')).toMatch(/Stopping local AWS left behind by an earlier run \(port \d+/);
    expect(await survivorsAfter(held.id, 5_000)).toEqual([]);
  }, 180_000);

  it('leaves alone an emulator whose run is still going', async () => {
    const held = await holdLocalAws();

    await stopLeftoverEmulators(() => {});

    expect((await survivorsAfter(held.id, 0)).length).toBeGreaterThan(0);
  }, 180_000);

  it('stops a supervised command (pip, cdk) and everything it started when aborted', async () => {
    const id = randomUUID();
    ids.push(id);
    const controller = new AbortController();
    const run = runSupervised('sh', ['-c', 'sleep 300 & sleep 301'], {
      env: { ...process.env, [LOCAL_AWS_ID_VARIABLE]: id },
      signal: controller.signal,
    });
    const deadline = Date.now() + 10_000;
    while (
      processesWithEnv(LOCAL_AWS_ID_VARIABLE, id).filter((p) => /sleep/.test(commandLine(p.pid))).length < 2
    ) {
      if (Date.now() > deadline) throw new Error('the command did not start');
      await new Promise((r) => setTimeout(r, 100));
    }

    controller.abort(new Error('Ctrl-C'));

    await expect(run).rejects.toThrow('Ctrl-C');
    expect(await survivorsAfter(id, 0)).toEqual([]);
  }, 60_000);

  describe('a busy port', () => {
    let blocker: Server | undefined;
    afterEach(() => new Promise<void>((resolve) => (blocker ? blocker.close(() => resolve()) : resolve())));

    it('is refused with a message that names who holds it and what to do', async () => {
      const port = await freePort();
      blocker = createServer();
      await new Promise<void>((resolve) => blocker?.listen(port, '127.0.0.1', resolve));

      await expect(startLocalAws({ port, log: () => {} })).rejects.toThrow(
        new RegExp(
          `Port ${port} is in use by pid ${process.pid} .*does not reuse one it did not start.*EDGEOPS_LOCAL_PORT.*AWS_ENDPOINT_URL=http://127.0.0.1:${port}`,
        ),
      );
    });
  });

  it('adopts the emulator AWS_ENDPOINT_URL names, and never stops it', async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:4599/';
    try {
      const aws = await startLocalAws();

      expect(aws).toMatchObject({ endpoint: 'http://127.0.0.1:4599', owned: false });
      expect(aws.processes()).toEqual([]);
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL;
      else process.env.AWS_ENDPOINT_URL = saved;
    }
  });
});
