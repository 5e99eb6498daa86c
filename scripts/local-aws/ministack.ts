/**
 * MiniStack, the local AWS this project deploys into: installed at a pinned version into a
 * project-local venv, started on chosen ports in its own process group, and stopped with
 * everything it spawned (Lambda workers included).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const MINISTACK_VERSION = '1.5.33';
export const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const RUNTIME_DIR = join(PROJECT_DIR, '.edgeops');
const VENV_DIR = join(RUNTIME_DIR, 'venv');
const MINISTACK_BIN = join(VENV_DIR, 'bin', 'ministack');

/** Credentials and region local AWS accepts; never real ones. */
export const LOCAL_AWS_ENV = {
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
} as const;

/** SDK client configuration for talking to local AWS from scripts and tests. */
export function localClientConfig(aws: Pick<LocalAws, 'endpoint'>) {
  return {
    endpoint: aws.endpoint,
    region: LOCAL_AWS_ENV.AWS_REGION,
    credentials: {
      accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
    },
  };
}

export interface LocalAws {
  /** The AWS API endpoint, e.g. http://127.0.0.1:4566. */
  readonly endpoint: string;
  /** Where devices connect with mutual TLS. */
  readonly mqtt: { readonly host: string; readonly port: number };
  /** True when this process started the emulator (and so must stop it). */
  readonly owned: boolean;
  stop(): Promise<void>;
}

function installedVersion(): string | undefined {
  if (!existsSync(MINISTACK_BIN)) return undefined;
  try {
    const out = execFileSync(join(VENV_DIR, 'bin', 'pip'), ['show', 'ministack'], { encoding: 'utf8' });
    return /^Version: (.+)$/m.exec(out)?.[1]?.trim();
  } catch {
    return undefined;
  }
}

/** Creates the venv and installs the pinned MiniStack (with `cryptography`, for KMS and IoT TLS). */
export function installMiniStack(log: (line: string) => void = console.log): void {
  if (installedVersion() === MINISTACK_VERSION) return;
  log(`Installing MiniStack ${MINISTACK_VERSION} into ${VENV_DIR} ...`);
  mkdirSync(RUNTIME_DIR, { recursive: true });
  const python = process.env.EDGEOPS_PYTHON ?? 'python3';
  if (!existsSync(join(VENV_DIR, 'bin', 'pip')))
    execFileSync(python, ['-m', 'venv', VENV_DIR], { stdio: 'inherit' });
  execFileSync(
    join(VENV_DIR, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `ministack[full]==${MINISTACK_VERSION}`],
    { stdio: 'inherit' },
  );
}

/** `count` distinct free ports: all are held open together, so no two can be the same. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (typeof address !== 'object' || !address) throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error('no port');
  return port;
}

async function waitUntilReady(endpoint: string, child: ChildProcess, logFile: string, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`MiniStack exited with code ${child.exitCode}; see ${logFile}`);
    try {
      const response = await fetch(`${endpoint}/_ministack/ready`);
      if (response.ok) return;
    } catch {}
    await sleep(250);
  }
  throw new Error(`MiniStack did not become ready within ${timeoutMs / 1000}s; see ${logFile}`);
}

export interface StartOptions {
  /** @default a free port (EDGEOPS_LOCAL_PORT when set) */
  readonly port?: number;
  /** @default a free port (EDGEOPS_MQTT_PORT when set) */
  readonly mqttPort?: number;
  /** Collapse Step Functions Wait states (0 = no waiting). @default 1 */
  readonly waitScale?: number;
}

/**
 * Starts local AWS, or adopts the one named by AWS_ENDPOINT_URL (any LocalStack-compatible
 * endpoint; then EDGEOPS_MQTT_HOST / EDGEOPS_MQTT_PORT say where its MQTT broker listens).
 */
export async function startLocalAws(options: StartOptions = {}): Promise<LocalAws> {
  const external = process.env.AWS_ENDPOINT_URL;
  if (external) {
    return {
      endpoint: external.replace(/\/$/, ''),
      mqtt: {
        host: process.env.EDGEOPS_MQTT_HOST ?? 'localhost',
        port: Number(process.env.EDGEOPS_MQTT_PORT ?? 8883),
      },
      owned: false,
      stop: async () => {},
    };
  }
  installMiniStack();
  const envPort = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const [spare, spareMqtt] = await freePorts(2);
  const port = options.port ?? envPort('EDGEOPS_LOCAL_PORT') ?? (spare as number);
  const mqttPort = options.mqttPort ?? envPort('EDGEOPS_MQTT_PORT') ?? (spareMqtt as number);
  if (port === mqttPort) throw new Error(`The API and MQTT ports must differ (both ${port})`);
  const workDir = join(RUNTIME_DIR, 'ministack', String(port));
  // Lambda code is unpacked under TMPDIR. Keep it outside the project, or Node would find our
  // package.json ("type": "module") and node_modules from there and hide bundling mistakes.
  const lambdaTmp = join(tmpdir(), `edgeops-ministack-${port}`);
  rmSync(workDir, { recursive: true, force: true });
  rmSync(lambdaTmp, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  mkdirSync(lambdaTmp, { recursive: true });
  const logFile = join(workDir, 'ministack.log');
  const log = openSync(logFile, 'w');

  const child = spawn(MINISTACK_BIN, [], {
    cwd: workDir,
    detached: true, // own process group, so stop() reaches the Lambda workers too
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      // Lambda handlers run on the first `node` on MiniStack's PATH: make it this project's Node 24.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
      TMPDIR: lambdaTmp,
      GATEWAY_PORT: String(port),
      BIND_HOST: '127.0.0.1',
      IOT_MTLS_PORT: String(mqttPort),
      // Enforce IAM and IoT policies, as AWS does.
      AUTH: 'true',
      SFN_WAIT_SCALE: String(options.waitScale ?? 1),
      LOG_LEVEL: process.env.EDGEOPS_MINISTACK_LOG_LEVEL ?? 'WARNING',
      S3_PERSIST: '0',
      PERSIST_STATE: '0',
    },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.pid === undefined) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {}
    const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
    if (timedOut) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      await exited;
    }
    rmSync(lambdaTmp, { recursive: true, force: true });
  };
  try {
    await waitUntilReady(endpoint, child, logFile);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, mqtt: { host: 'localhost', port: mqttPort }, owned: true, stop };
}
