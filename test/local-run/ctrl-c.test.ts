/**
 * Ctrl-C at any moment stops everything `npm start` and `npm run demo` started. Each run is a
 * real `npm` in its own process group; Ctrl-C is SIGINT to that group, as a terminal sends it.
 * Every process the run starts inherits a marker in its environment (MiniStack, its Lambda
 * workers, the CDK CLI and esbuild included), so none can hide from the final check.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PROJECT_DIR } from '../../scripts/local-aws/ministack';
import { commandLine, processesWithEnv, terminate } from '../../scripts/local-aws/processes';

const MARKER = 'EDGEOPS_TEST_RUN';

interface Run {
  readonly child: ChildProcess;
  readonly marker: string;
  readonly output: () => string;
  readonly exited: Promise<number | string | null>;
}

const runs: Run[] = [];

afterEach(async () => {
  // A failed test must not leave its run behind either.
  for (const run of runs.splice(0)) {
    if (run.child.exitCode === null && run.child.signalCode === null && run.child.pid) {
      try {
        process.kill(-run.child.pid, 'SIGKILL');
      } catch {} // the group is gone already
    }
    await terminate(processesWithEnv(MARKER, run.marker), 1_000);
  }
});

function npmRun(script: 'start' | 'demo', env: Record<string, string> = {}): Run {
  const marker = randomUUID();
  const child = spawn('npm', ['run', '--silent', script], {
    cwd: PROJECT_DIR,
    env: { ...process.env, ...env, [MARKER]: marker },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  // npm itself ends by the signal (SIGINT), so its exit code is then null.
  const exited = new Promise<number | string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal)),
  );
  const run = { child, marker, output: () => output, exited };
  runs.push(run);
  return run;
}

const processesOf = (run: Run) => processesWithEnv(MARKER, run.marker).map((p) => commandLine(p.pid));

async function until(what: string, run: Run, check: () => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (run.child.exitCode !== null) throw new Error(`The run ended before ${what}:\n${run.output()}`);
    if (Date.now() > deadline) throw new Error(`No ${what} within ${timeoutMs / 1000} s:\n${run.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Ctrl-C, then: the run exits within a minute, and no process of it is left. */
async function pressCtrlC(run: Run) {
  if (!run.child.pid) throw new Error('no pid');
  process.kill(-run.child.pid, 'SIGINT');
  const code = await Promise.race([
    run.exited,
    new Promise((r) => setTimeout(() => r('still running'), 60_000)),
  ]);
  const deadline = Date.now() + 5_000;
  let left = processesOf(run);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = processesOf(run);
  }
  return { code, left };
}

const running = (run: Run, pattern: RegExp) => () => processesOf(run).some((c) => pattern.test(c));

describe('Ctrl-C', () => {
  it('while MiniStack boots stops it and exits', async () => {
    const run = npmRun('start');
    await until('MiniStack', run, running(run, /venv\/bin\/ministack/), 120_000);

    const { code, left } = await pressCtrlC(run);

    expect(left).toEqual([]);
    expect(code).not.toBe('still running');
  }, 300_000);

  it('during cdk deploy stops cdk, its children and local AWS, and exits', async () => {
    const run = npmRun('start');
    await until('cdk deploy', run, running(run, /cdk deploy/), 300_000);
    await new Promise((r) => setTimeout(r, 3_000));

    const { code, left } = await pressCtrlC(run);

    expect(left).toEqual([]);
    expect(code).not.toBe('still running');
  }, 420_000);

  it('while the fleet registers stops the devices, the Lambda workers and local AWS, and exits', async () => {
    const run = npmRun('start', { EDGEOPS_FLEET_SIZE: '40' });
    await until('registration', run, () => run.output().includes('Starting a simulated fleet'), 420_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(processesOf(run).length).toBeGreaterThan(3);

    const { code, left } = await pressCtrlC(run);

    expect(left).toEqual([]);
    expect(code).not.toBe('still running');
  }, 540_000);

  it('during the demo rollout stops everything and exits', async () => {
    const run = npmRun('demo');
    await until('the rollout', run, () => /Rollout \S+: 1\.0\.0 → 1\.1\.0/.test(run.output()), 480_000);
    await new Promise((r) => setTimeout(r, 3_000));

    const { code, left } = await pressCtrlC(run);

    expect(left).toEqual([]);
    expect(code).not.toBe('still running');
  }, 600_000);
});
