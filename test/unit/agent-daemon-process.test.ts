/**
 * `edgeops-agent` as a real child process, with no broker: what it does before and without a
 * connection (refusing a config, sd_notify, stopping on signals). It connects for real in
 * test/e2e/agent-daemon.test.ts.
 */
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleAgent } from '../../scripts/build-agent';
import {
  closedPort,
  type DaemonProcess,
  daemonConfig,
  type IdentityFiles,
  type NotifySocket,
  notifySocket,
  selfSignedIdentity,
  startDaemon,
  writeConfig,
} from '../support/agent-daemon';

const TIMEOUT = 60_000;

let dir: string;
let identity: IdentityFiles;
let port: number;
const daemons: DaemonProcess[] = [];
const sockets: NotifySocket[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-daemon-'));
  identity = await selfSignedIdentity(dir);
  port = await closedPort();
});
afterEach(async () => {
  for (const daemon of daemons.splice(0)) {
    daemon.child.kill('SIGKILL');
    await daemon.exited;
  }
  await Promise.all(sockets.splice(0).map((socket) => socket.close()));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

let configs = 0;
async function config(overrides: Record<string, unknown> = {}) {
  const n = ++configs;
  const stateDir = join(dir, `state-${n}`);
  const path = await writeConfig(
    join(dir, `agent-${n}.json`),
    daemonConfig(identity, stateDir, { mqtt: { host: '127.0.0.1', port }, ...overrides }),
  );
  return { path, stateDir };
}

function daemon(args: string[], options: Parameters<typeof startDaemon>[1] = {}) {
  const started = startDaemon(args, options);
  daemons.push(started);
  return started;
}

describe('edgeops-agent process', () => {
  it(
    'refuses a bad config with exit 78 and one line naming the file and the field, and starts nothing',
    async () => {
      const { path, stateDir } = await config({ mqtt: { host: '127.0.0.1', port: 'eighty' } });

      const agent = daemon(['--config', path]);

      expect(await agent.exited).toEqual({ code: 78, signal: null });
      expect(agent.stderr).toEqual([`edgeops-agent: ${path}: mqtt.port: must be a number`]);
      expect(agent.stdout).toEqual([]);
      await expect(access(stateDir)).rejects.toThrow(/ENOENT/);
    },
    TIMEOUT,
  );

  it(
    'reads the config from EDGEOPS_AGENT_CONFIG, and refuses one that is missing with exit 78',
    async () => {
      const missing = join(dir, 'missing.json');

      const agent = daemon([], { env: { EDGEOPS_AGENT_CONFIG: missing } });

      expect(await agent.exited).toEqual({ code: 78, signal: null });
      expect(agent.stderr).toEqual([
        `edgeops-agent: ${missing}: cannot read the config: no such file or directory`,
      ]);
    },
    TIMEOUT,
  );

  it(
    'refuses unknown arguments with exit 64',
    async () => {
      const agent = daemon(['--confgi', '/etc/edgeops/agent.json']);

      expect(await agent.exited).toEqual({ code: 64, signal: null });
      expect(agent.stderr).toEqual(['edgeops-agent: unknown argument: --confgi (see --help)']);
    },
    TIMEOUT,
  );

  it(
    'keeps trying to connect, and on SIGTERM stops cleanly with exit 0',
    async () => {
      const { path } = await config({ log: { level: 'info', priorityPrefix: true } });
      const agent = daemon(['--config', path]);
      await agent.line(/<4>cannot connect to 127\.0\.0\.1:\d+: .*ECONNREFUSED.*; trying again in \d+ ms/);

      agent.child.kill('SIGTERM');

      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(agent.stdout.slice(-2)).toEqual(['<6>stopping (SIGTERM)', '<6>stopped']);
      expect(agent.stdout.every((line) => /^<[3467]>\S/.test(line))).toBe(true);
      expect(agent.stderr).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    'stops on SIGINT too',
    async () => {
      const { path } = await config({ log: { level: 'info', priorityPrefix: false } });
      const agent = daemon(['--config', path]);
      await agent.line(/^edgeops-agent \S+: device dev-test-1/);

      agent.child.kill('SIGINT');

      expect(await agent.exited).toEqual({ code: 0, signal: null });
      expect(agent.stdout.at(-1)).toBe('stopped');
    },
    TIMEOUT,
  );

  it(
    'tells systemd READY=1, pings the watchdog at half its period and says STOPPING=1 on SIGTERM',
    async () => {
      const socket = await notifySocket(join(dir, 'notify.sock'));
      sockets.push(socket);
      const { path } = await config();
      const agent = daemon(['--config', path], {
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '600000' },
      });

      await socket.until('WATCHDOG=1', 3);
      agent.child.kill('SIGTERM');
      expect(await agent.exited).toEqual({ code: 0, signal: null });

      // systemd-notify also sends BARRIER=1 (systemd ≥ 252), to wait until systemd has read the message.
      const messages = socket.messages.map((m) => m.message).filter((m) => m !== 'BARRIER=1');
      expect(messages[0]).toBe(`READY=1\nSTATUS=connecting to 127.0.0.1:${port}`);
      expect(messages.at(-1)).toBe('STOPPING=1');
      expect(messages.filter((m) => m === 'WATCHDOG=1').length).toBeGreaterThanOrEqual(3);
      expect(messages.some((m) => m.startsWith(`STATUS=cannot connect to 127.0.0.1:${port}`))).toBe(true);
      expect(agent.stdout.join('\n')).toContain('systemd notify, watchdog every 300 ms');
    },
    TIMEOUT,
  );

  it(
    'sends nothing to systemd when WATCHDOG_PID names another process',
    async () => {
      const socket = await notifySocket(join(dir, 'notify-other.sock'));
      sockets.push(socket);
      const { path } = await config();
      const agent = daemon(['--config', path], {
        env: { NOTIFY_SOCKET: socket.path, WATCHDOG_USEC: '200000', WATCHDOG_PID: '1' },
      });
      await socket.until('READY=1');
      await new Promise((resolve) => setTimeout(resolve, 1_000));

      agent.child.kill('SIGTERM');
      expect(await agent.exited).toEqual({ code: 0, signal: null });

      expect(socket.messages.map((m) => m.message)).not.toContain('WATCHDOG=1');
    },
    TIMEOUT,
  );

  it(
    'exits 73 when the state dir cannot be created',
    async () => {
      const { path } = await config({ stateDir: join(identity.certificate, 'state') });

      const agent = daemon(['--config', path]);

      expect(await agent.exited).toEqual({ code: 73, signal: null });
      expect(agent.stderr).toEqual([
        `edgeops-agent: ${path}: stateDir: ${join(identity.certificate, 'state')}: cannot create or write it: a path component is not a directory`,
      ]);
    },
    TIMEOUT,
  );

  it(
    'runs from the bundle `npm run build:agent` ships: --check, a refused config, SIGTERM',
    async () => {
      const bundle = join(dir, 'bundle/edgeops-agent.mjs');
      await bundleAgent(bundle);
      const good = await config();
      const bad = await config({ deviceId: 'no spaces' });

      const check = daemon(['--check', '--config', good.path], { bundle });
      const refused = daemon(['--config', bad.path], { bundle });
      expect(await check.exited).toEqual({ code: 0, signal: null });
      expect(check.stdout).toEqual([`${good.path}: config good`]);
      expect(await refused.exited).toEqual({ code: 78, signal: null });
      expect(refused.stderr).toEqual([
        `edgeops-agent: ${bad.path}: deviceId: must be 1-128 of letters, digits, _ and -`,
      ]);

      const running = daemon(['--config', good.path], { bundle });
      await running.line(/cannot connect/);
      running.child.kill('SIGTERM');
      expect(await running.exited).toEqual({ code: 0, signal: null });
    },
    TIMEOUT,
  );
});
