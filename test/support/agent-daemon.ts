/**
 * Runs `edgeops-agent` as a real child process for tests: identity files, a config file, the
 * daemon (device/daemon/main.ts through tsx, or a bundle), and a stand-in for systemd's notify
 * socket (notify-socket.py) that records every sd_notify message.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DAEMON_ENTRY = join(REPO_ROOT, 'device/daemon/main.ts');

export interface IdentityFiles {
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

/** Writes identity PEMs as a device would keep them (the key 0600). */
export async function writeIdentity(
  dir: string,
  pems: { certificatePem: string; privateKey: string; ca: string },
): Promise<IdentityFiles> {
  const files = {
    certificate: join(dir, 'device.pem.crt'),
    privateKey: join(dir, 'private.pem.key'),
    ca: join(dir, 'ca.pem'),
  };
  await writeFile(files.certificate, pems.certificatePem);
  await writeFile(files.privateKey, pems.privateKey, { mode: 0o600 });
  await chmod(files.privateKey, 0o600);
  await writeFile(files.ca, pems.ca);
  return files;
}

/** A self-signed P-256 certificate and its key, made with the openssl CLI (Node cannot issue certificates). */
export async function selfSignedIdentity(dir: string, name = 'device'): Promise<IdentityFiles> {
  const certificate = join(dir, `${name}.pem.crt`);
  const privateKey = join(dir, `${name}.pem.key`);
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    privateKey,
    '-out',
    certificate,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
  await chmod(privateKey, 0o600);
  return { certificate, privateKey, ca: certificate };
}

/** A config the agent accepts; `overrides` replace top-level fields. */
export function daemonConfig(
  identity: IdentityFiles & { readonly trustRoot?: string },
  stateDir: string,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    deviceId: 'dev-test-1',
    hardwareType: 'rpi4',
    factoryVersion: '1.0.0',
    identity: { ...identity },
    mqtt: { host: '127.0.0.1', port: 8883 },
    stateDir,
    ...overrides,
  };
}

export async function writeConfig(path: string, config: unknown): Promise<string> {
  await writeFile(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
  return path;
}

/** A TCP port nothing listens on: connections to it are refused at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export interface DaemonProcess {
  readonly child: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first stdout line matching, or rejects when the time is up or the process ended. */
  line(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/**
 * Starts the daemon: `node --import tsx device/daemon/main.ts <args>` (the Node running the tests,
 * not `npx`, whose wrapper process would take the signals meant for the daemon), or the bundle.
 */
export function startDaemon(
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; bundle?: string } = {},
): DaemonProcess {
  const {
    NOTIFY_SOCKET: _,
    WATCHDOG_USEC: __,
    WATCHDOG_PID: ___,
    JOURNAL_STREAM: ____,
    ...inherited
  } = process.env;
  const nodeArgs = options.bundle ? [options.bundle] : ['--import', 'tsx', DAEMON_ENTRY];
  const child = spawn(process.execPath, [...nodeArgs, ...args], {
    cwd: REPO_ROOT,
    env: { ...inherited, NODE_NO_WARNINGS: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    stdout.push(line);
    for (const waiter of waiters) waiter();
  });
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => stderr.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const waiter of waiters) waiter();
    }),
  );
  const line = (pattern: RegExp, timeoutMs = 20_000) =>
    new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => done(new Error(`no line matching ${pattern} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const done = (error?: Error, found?: string) => {
        clearTimeout(timer);
        waiters.delete(check);
        if (error)
          reject(new Error(`${error.message}; stdout:\n${stdout.join('\n')}\nstderr:\n${stderr.join('\n')}`));
        else resolve(found ?? '');
      };
      const check = () => {
        const found = stdout.find((l) => pattern.test(l));
        if (found !== undefined) done(undefined, found);
        else if (child.exitCode !== null || child.signalCode !== null) done(new Error('the daemon exited'));
      };
      waiters.add(check);
      check();
    });
  return { child, stdout, stderr, exited, line };
}

export interface NotifyMessage {
  readonly message: string;
  /** The sender's PID (SCM_CREDENTIALS), as systemd sees it. */
  readonly pid: number | null;
}

export interface NotifySocket {
  readonly path: string;
  readonly messages: NotifyMessage[];
  /** Resolves once `count` messages containing `assignment` (e.g. `READY=1`) arrived. */
  until(assignment: string, count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Binds a unix datagram socket at `path`, as systemd's notify socket, and records what arrives. */
export async function notifySocket(path: string): Promise<NotifySocket> {
  const helper = spawn('python3', [join(REPO_ROOT, 'test/support/notify-socket.py'), path], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const messages: NotifyMessage[] = [];
  const listeners = new Set<() => void>();
  const listening = new Promise<void>((resolve, reject) => {
    helper.once('error', reject);
    helper.once('exit', (code) => reject(new Error(`notify-socket.py exited with ${code}`)));
    createInterface({ input: helper.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const record = JSON.parse(line) as { listening?: string } & NotifyMessage;
      if (record.listening) return resolve();
      messages.push({ message: record.message, pid: record.pid });
      for (const listener of listeners) listener();
    });
  });
  await listening;
  const count = (assignment: string) =>
    messages.filter((m) => m.message.split('\n').includes(assignment)).length;
  return {
    path,
    messages,
    until: (assignment, wanted = 1, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (count(assignment) < wanted) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`${wanted}× ${assignment} not received; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      }),
    close: async () => {
      // Its stdin closing ends it (and would, were this process killed).
      helper.stdin?.end();
      if (helper.exitCode === null) await new Promise((resolve) => helper.once('exit', resolve));
    },
  };
}

/** PIDs of live processes whose command line contains `text` (e.g. a test's unique config path). */
export async function processesMentioning(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(text)) pids.push(Number(entry));
  }
  return pids;
}
