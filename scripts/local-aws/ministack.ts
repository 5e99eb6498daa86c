/**
 * MiniStack, the local AWS this project deploys into: installed at a pinned version into a
 * project-local venv, started on chosen ports under a watchdog (its own process group, which ends
 * with everything in it, Lambda workers included, when we stop it or when this process dies), and
 * recorded in `.edgeops/local-aws/<port>.json`, so a later start finds one left behind: it stops
 * it when the run that started it is gone, and refuses to touch it while that run goes on.
 */
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import {
  commandLine,
  isSameProcess,
  listenerOf,
  type ProcessInfo,
  processesWithEnv,
  processInfo,
  terminate,
} from './processes';
import { python, runSupervised, type Supervised, spawnSupervised } from './supervised';

export const MINISTACK_VERSION = '1.5.33';
export const PROJECT_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const RUNTIME_DIR = join(PROJECT_DIR, '.edgeops');
const VENV_DIR = join(RUNTIME_DIR, 'venv');
const MINISTACK_BIN = join(VENV_DIR, 'bin', 'ministack');
/** One file per emulator this project started and has not stopped yet. */
const RECORDS_DIR = join(RUNTIME_DIR, 'local-aws');
/** Set in the environment of the emulator, so every process it runs carries it. */
export const LOCAL_AWS_ID_VARIABLE = 'EDGEOPS_LOCAL_AWS_ID';

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
  /** The emulator's live processes (watchdog, MiniStack, Lambda workers); none when adopted. */
  processes(): ProcessInfo[];
  stop(): Promise<void>;
}

/** The MiniStack version in the venv, read from pip's metadata (no process to start). */
function installedVersion(): string | undefined {
  if (!existsSync(MINISTACK_BIN)) return undefined;
  try {
    for (const lib of readdirSync(join(VENV_DIR, 'lib'))) {
      const sitePackages = join(VENV_DIR, 'lib', lib, 'site-packages');
      const dist = readdirSync(sitePackages).find((entry) => /^ministack-.+\.dist-info$/.test(entry));
      if (dist) return dist.slice('ministack-'.length, -'.dist-info'.length);
    }
  } catch {}
  return undefined;
}

/**
 * Creates the venv and installs the pinned MiniStack (with `cryptography`, for KMS and IoT TLS).
 * pip runs under the watchdog: Ctrl-C (`signal`) or our death stops it too.
 */
export async function installMiniStack(
  options: { readonly log?: (line: string) => void; readonly signal?: AbortSignal } = {},
): Promise<void> {
  if (installedVersion() === MINISTACK_VERSION) return;
  const { log = console.log, signal } = options;
  log(`Installing MiniStack ${MINISTACK_VERSION} into ${VENV_DIR} ...`);
  mkdirSync(RUNTIME_DIR, { recursive: true });
  if (!existsSync(join(VENV_DIR, 'bin', 'pip')))
    await runSupervised(python(), ['-m', 'venv', VENV_DIR], { stdio: 'inherit', signal });
  await runSupervised(
    join(VENV_DIR, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', `ministack[full]==${MINISTACK_VERSION}`],
    { stdio: 'inherit', signal },
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

async function waitUntilReady(
  endpoint: string,
  emulator: Supervised,
  logFile: string,
  signal: AbortSignal | undefined,
  timeoutMs = 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    signal?.throwIfAborted();
    if (!emulator.running)
      throw new Error(`MiniStack exited (code ${await emulator.exited}); see ${logFile}`);
    try {
      const response = await fetch(`${endpoint}/_ministack/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {}
    await sleep(250, undefined, signal ? { signal } : {});
  }
  throw new Error(`MiniStack did not become ready within ${timeoutMs / 1000}s; see ${logFile}`);
}

/** What `.edgeops/local-aws/<port>.json` holds about an emulator we started. */
interface EmulatorRecord {
  /** Also the value of EDGEOPS_LOCAL_AWS_ID in each of its processes. */
  readonly id: string;
  readonly port: number;
  readonly mqttPort: number;
  /** The watchdog's pid: the id of the emulator's process group. */
  readonly pgid: number;
  readonly owner: { readonly pid: number; readonly startTime: number; readonly command: string };
  readonly startedAt: string;
  readonly lambdaTmp: string;
}

const recordFile = (port: number) => join(RECORDS_DIR, `${port}.json`);

function records(): EmulatorRecord[] {
  let files: string[] = [];
  try {
    files = readdirSync(RECORDS_DIR).filter((file) => file.endsWith('.json'));
  } catch {}
  return files.flatMap((file) => {
    try {
      return [JSON.parse(readFileSync(join(RECORDS_DIR, file), 'utf8')) as EmulatorRecord];
    } catch {
      return []; // gone meanwhile
    }
  });
}

function forget(record: EmulatorRecord) {
  rmSync(recordFile(record.port), { force: true });
  rmSync(record.lambdaTmp, { recursive: true, force: true });
}

const emulatorProcesses = (id: string) => processesWithEnv(LOCAL_AWS_ID_VARIABLE, id);

const ownerAlive = (record: EmulatorRecord) => isSameProcess(record.owner.pid, record.owner.startTime);

/**
 * Emulators this project started whose run is gone (killed before it could stop them, with its
 * watchdog killed too): stopped, every process of theirs included, and their records dropped.
 * A run still going keeps its emulator and its record, whatever state they are in.
 */
export async function stopLeftoverEmulators(log: (line: string) => void = console.log): Promise<number> {
  let stopped = 0;
  for (const record of records()) {
    if (ownerAlive(record)) continue;
    const processes = emulatorProcesses(record.id);
    if (processes.length > 0) {
      log(
        `Stopping local AWS left behind by an earlier run (port ${record.port}, started ${record.startedAt} ` +
          `by pid ${record.owner.pid}, ${processes.length} processes) ...`,
      );
      await terminate(processes);
      stopped++;
    }
    forget(record);
  }
  return stopped;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
      .once('error', () => resolve(false))
      .listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Who holds `port`, in words, for a message that says what to do about it. */
function holderOf(port: number): string {
  const live = records().find((r) => (r.port === port || r.mqttPort === port) && ownerAlive(r));
  if (live)
    return `local AWS of another EdgeOps run that is still going (pid ${live.owner.pid}: ${live.owner.command})`;
  const pid = listenerOf(port);
  if (pid === undefined) return 'another program';
  const command = commandLine(pid);
  if (command.includes(VENV_DIR))
    return (
      `a MiniStack from this project's venv (pid ${pid}) that no EdgeOps run records as its own ` +
      `(left by an older version of these scripts; stop it with: kill -TERM -${processInfo(pid)?.pgid ?? pid})`
    );
  return `pid ${pid} (${command || 'unknown'})`;
}

/**
 * Refuses a busy port with a message naming who holds it. We never reuse an emulator we did
 * not start now: it may hold another run's state, or be one left behind in an unknown state.
 */
async function requireFreePort(port: number, variable: string) {
  if (await portIsFree(port)) return;
  throw new Error(
    `Port ${port} is in use by ${holderOf(port)}. EdgeOps starts its own local AWS and does not reuse one ` +
      `it did not start: free the port or choose another with ${variable}` +
      (variable === 'EDGEOPS_LOCAL_PORT'
        ? `, or use that emulator on purpose with AWS_ENDPOINT_URL=http://127.0.0.1:${port}.`
        : '.'),
  );
}

/** `preferred` when it is free, else a free port (and a line saying why). */
async function preferredOrFree(preferred: number, log: (line: string) => void): Promise<number> {
  if (await portIsFree(preferred)) return preferred;
  const port = await freePort();
  log(`Port ${preferred} is in use by ${holderOf(preferred)}; using ${port} instead.`);
  return port;
}

export interface StartOptions {
  /** Exactly this port, refused when busy. @default EDGEOPS_LOCAL_PORT, else `preferredPort`, else a free port */
  readonly port?: number;
  /** This port when free, another free one otherwise. @default none */
  readonly preferredPort?: number;
  /** Exactly this port, refused when busy. @default EDGEOPS_MQTT_PORT, else `preferredMqttPort`, else a free port */
  readonly mqttPort?: number;
  /** @default none */
  readonly preferredMqttPort?: number;
  /** Collapse Step Functions Wait states (0 = no waiting). @default 1 */
  readonly waitScale?: number;
  /** Stops installing or starting, and the emulator, when aborted. */
  readonly signal?: AbortSignal;
  /** @default console.log */
  readonly log?: (line: string) => void;
}

/**
 * Starts local AWS, or adopts the one named by AWS_ENDPOINT_URL (any LocalStack-compatible
 * endpoint; then EDGEOPS_MQTT_HOST / EDGEOPS_MQTT_PORT say where its MQTT broker listens). An
 * adopted emulator is the user's: it is never stopped or recorded here.
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
      processes: () => [],
      stop: async () => {},
    };
  }
  const { signal, log = console.log } = options;
  await installMiniStack({ log, signal });
  await stopLeftoverEmulators(log);
  signal?.throwIfAborted();

  const envPort = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
  const exact = options.port ?? envPort('EDGEOPS_LOCAL_PORT');
  const exactMqtt = options.mqttPort ?? envPort('EDGEOPS_MQTT_PORT');
  if (exact !== undefined) await requireFreePort(exact, 'EDGEOPS_LOCAL_PORT');
  if (exactMqtt !== undefined) await requireFreePort(exactMqtt, 'EDGEOPS_MQTT_PORT');
  const [spare, spareMqtt] = await freePorts(2);
  const port =
    exact ??
    (options.preferredPort !== undefined
      ? await preferredOrFree(options.preferredPort, log)
      : (spare as number));
  const mqttPort =
    exactMqtt ??
    (options.preferredMqttPort !== undefined
      ? await preferredOrFree(options.preferredMqttPort, log)
      : (spareMqtt as number));
  if (port === mqttPort) throw new Error(`The API and MQTT ports must differ (both ${port})`);

  const workDir = join(RUNTIME_DIR, 'ministack', String(port));
  // Lambda code is unpacked under TMPDIR. Keep it outside the project, or Node would find our
  // package.json ("type": "module") and node_modules from there and hide bundling mistakes.
  const lambdaTmp = join(tmpdir(), `edgeops-ministack-${port}`);
  rmSync(workDir, { recursive: true, force: true });
  rmSync(lambdaTmp, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });
  mkdirSync(lambdaTmp, { recursive: true });
  mkdirSync(RECORDS_DIR, { recursive: true });
  const logFile = join(workDir, 'ministack.log');
  const id = randomUUID();

  const logFd = openSync(logFile, 'w');
  const emulator = spawnSupervised(MINISTACK_BIN, [], {
    cwd: workDir,
    stdio: logFd,
    env: {
      ...process.env,
      [LOCAL_AWS_ID_VARIABLE]: id,
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
  closeSync(logFd); // the watchdog has its own copy
  const record: EmulatorRecord = {
    id,
    port,
    mqttPort,
    pgid: emulator.pgid,
    owner: {
      pid: process.pid,
      startTime: processInfo(process.pid)?.startTime ?? 0,
      command: commandLine(process.pid),
    },
    startedAt: new Date().toISOString(),
    lambdaTmp,
  };
  // Written whole or not at all (a rename), as other runs read these files at any time.
  writeFileSync(`${recordFile(port)}.${process.pid}.tmp`, JSON.stringify(record, null, 2));
  renameSync(`${recordFile(port)}.${process.pid}.tmp`, recordFile(port));
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await emulator.stop();
      // Anything that left the group on its own still carries the id.
      await terminate(emulatorProcesses(id), 2_000);
      forget(record);
    })();
    return stopping;
  };
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, emulator, logFile, signal);
    // Ready must mean ours: a port taken between the check and MiniStack's bind is refused.
    const listener = listenerOf(port);
    if (listener !== undefined && processInfo(listener)?.pgid !== emulator.pgid)
      throw new Error(`Port ${port} was taken by ${holderOf(port)} while MiniStack started`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    endpoint,
    mqtt: { host: 'localhost', port: mqttPort },
    owned: true,
    processes: () => emulatorProcesses(id),
    stop,
  };
}
