/**
 * Power cuts during multi-component OTA updates (root file system, app, model; job document v3),
 * small: the `edgeops-agent` daemon as a real process (the bundle), over MQTT with mutual TLS to a
 * local broker in front of the in-memory IoT core, SIGKILLed with everything it started (update
 * module handlers included) at random points of updates (simulator/daemon-kill-harness.ts); and
 * Ctrl-C of `npm run bench -- agent-kill` leaving nothing behind. `npm run bench -- agent-kill`
 * runs the same with 100 kills.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { commandLine, processesWithEnv, terminate } from '../../scripts/local-aws/processes';
import { runKillHarness } from '../../simulator/daemon-kill-harness';
import { inDomainsStartingWith } from '../../simulator/device-process';

const REPO_ROOT = new URL('../..', import.meta.url).pathname;
const MARKER = 'EDGEOPS_TEST_RUN';
const benches: { child: ChildProcess; marker: string }[] = [];

afterEach(async () => {
  for (const { child, marker } of benches.splice(0)) {
    if (child.exitCode === null && child.signalCode === null && child.pid)
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {} // gone already
    await terminate(processesWithEnv(MARKER, marker), 1_000);
  }
});

describe('edgeops-agent under power cuts', () => {
  it('boots all old or all new components and loses no event over at least 5 SIGKILLs during multi-component updates', async () => {
    const lines: string[] = [];

    const report = await runKillHarness({
      kills: 5,
      seed: 20_261_127,
      documentKind: 'v3',
      baselineCycles: 1,
      log: (l) => lines.push(l),
    });

    const { cycles } = report;
    expect(cycles.flatMap((c) => c.problems)).toEqual([]);
    expect(cycles.flatMap((c) => c.kills).length).toBeGreaterThanOrEqual(5);
    expect(cycles.map((c) => [c.status, c.running])).toEqual(
      cycles.map((c) => (c.status === 'SUCCEEDED' ? ['SUCCEEDED', 'new'] : ['FAILED', 'old'])),
    );
    expect(cycles.reduce((sum, c) => sum + c.eventsLost, 0)).toBe(0);
    expect(inDomainsStartingWith(report.runId)).toEqual([]);
  }, 120_000);

  it('Ctrl-C of `npm run bench -- agent-kill` stops the daemon and everything else it started', async () => {
    const marker = randomUUID();
    const child = spawn('npm', ['run', '--silent', 'bench', '--', 'agent-kill', '100', '7'], {
      cwd: REPO_ROOT,
      env: { ...process.env, [MARKER]: marker },
      detached: true, // its own group: Ctrl-C is SIGINT to the group, as a terminal sends it
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    benches.push({ child, marker });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<number | string | null>((resolve) =>
      child.once('exit', (code, signal) => resolve(code ?? signal)),
    );
    const daemons = () =>
      processesWithEnv(MARKER, marker).filter((p) => commandLine(p.pid).includes('edgeops-agent.mjs'));
    const deadline = Date.now() + 60_000;
    while (daemons().length === 0) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no daemon started:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // into the first update

    process.kill(-(child.pid ?? 0), 'SIGINT');
    const code = await Promise.race([
      exited,
      new Promise((r) => setTimeout(() => r('still running'), 30_000)),
    ]);

    expect(code).not.toBe('still running');
    expect(output).toMatch(/SIGINT: stopping everything this run started/);
    expect(processesWithEnv(MARKER, marker).map((p) => commandLine(p.pid))).toEqual([]);
  }, 120_000);
});
