/**
 * `edgeops-agent` updating a real app on the deployed stack: the daemon as a child process with a
 * config whose `updateModules.dir` holds the shipped handlers, a release of one component `app`
 * on the `directory` handler (a tar.gz of a tiny Node HTTP service), a rollout to the device, and
 * the app checked over HTTP. The handler's restart command (device setting
 * `EDGEOPS_RESTART_COMMAND`, from the config's `updateModules.env`) stands in for systemd: it
 * stops the running app and starts the one in the target dir, detached.
 *
 * 1. v1 (answers 200): installed, restarted, health-checked by the handler over HTTP, committed;
 *    the rollout succeeds and the device runs the release.
 * 2. v2 (answers 500): installed, restarted, unhealthy; the handler restores v1 and restarts it,
 *    the device reports `rolled-back` naming the component, the rollout halts; v1 answers again.
 * 3. SIGTERM: the daemon exits 0 and nothing of it is left.
 */
import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OtaStage } from '../../contract/ota';
import {
  closedPort,
  type DaemonProcess,
  daemonConfig,
  processesMentioning,
  REPO_ROOT,
  startDaemon,
  writeConfig,
  writeIdentity,
} from '../support/agent-daemon';
import { api, context, eventually, profile } from './support';

const run = promisify(execFile);
/** Local AWS counts an upload as TLS only with this header (README: what local AWS cannot show). */
const OVER_TLS = { headers: { 'x-forwarded-proto': 'https' } };
const SHIPPED_HANDLERS = join(REPO_ROOT, 'device/update-modules/handlers');
const FACTORY = '6.0.0';

interface RolloutBody {
  rolloutId: string;
  status: string;
  haltReason: string | null;
}
interface RolloutDevice {
  deviceId: string;
  stage: OtaStage | 'pending';
  reason?: string;
  runningVersion?: string;
  jobStatus?: string;
}

/** Stands in for `systemctl restart`: stops the app in the pid file, starts the one in the target. */
const RESTART_APP = `#!/bin/sh
set -eu
if [ -f "$APP_PIDFILE" ]; then
  old=$(cat "$APP_PIDFILE")
  kill "$old" 2>/dev/null || true
  n=0
  while [ -r "/proc/$old/stat" ] && ! grep -q ') Z ' "/proc/$old/stat" && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
fi
setsid "$APP_NODE" "$EDGEOPS_TARGET/server.mjs" >>"$APP_LOG" 2>&1 </dev/null &
echo $! >"$APP_PIDFILE"
`;

/** The app: answers every request with its version, 200 when healthy, 500 when broken. */
const serverSource = (status: number) => `
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
const version = readFileSync(new URL('./version.txt', import.meta.url), 'utf8');
createServer((request, response) => {
  response.writeHead(${status});
  response.end(version);
}).listen(Number(process.env.APP_PORT), '127.0.0.1');
`;

let dir: string;
let deviceId: string;
let configPath: string;
let agent: DaemonProcess | undefined;
let port: number;
let appTarget: string;
let pidFile: string;
const healthUrl = () => `http://127.0.0.1:${port}/health`;

/** What the app answers now, or undefined when nothing listens. */
async function appAnswer(): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(healthUrl(), { signal: AbortSignal.timeout(2_000) });
    return { status: response.status, body: await response.text() };
  } catch {
    return undefined;
  }
}

/** A tar.gz of the app at `version`, made with the system tar as a release build would. */
async function appArchive(version: string, status: number): Promise<Buffer> {
  const source = join(dir, `src-${version}`);
  await mkdir(source, { recursive: true });
  await writeFile(join(source, 'version.txt'), version);
  await writeFile(join(source, 'server.mjs'), serverSource(status));
  const archive = join(dir, `app-${version}.tar.gz`);
  await run('tar', ['-czf', archive, '-C', source, '.']);
  return readFile(archive);
}

/** Uploads the app as an artifact (presigned PUT, complete) and waits until it is sealed. */
async function readyAppArtifact(version: string, bytes: Buffer) {
  const created = await api().createArtifact({
    kind: 'app',
    hardwareType: 'rpi4',
    version,
    size: bytes.length,
  });
  const parts = await api().uploadArtifactBytes(created.upload, bytes, OVER_TLS);
  await api().completeArtifactUpload(created.artifact.artifactId, parts);
  return eventually(async () => {
    const artifact = await api('viewer').getArtifact(created.artifact.artifactId);
    if (artifact.status === 'rejected') throw new Error(`${artifact.artifactId} was rejected`);
    return artifact.status === 'ready' ? artifact : undefined;
  }, 60_000);
}

/** A release of one component, `app` on the `directory` handler, probed at the app's URL. */
async function appRelease(releaseVersion: string, appVersion: string, status: number, healthTimeout: number) {
  const artifact = await readyAppArtifact(appVersion, await appArchive(appVersion, status));
  return api().createRelease({
    version: releaseVersion,
    components: [
      {
        name: 'app',
        handler: 'directory',
        settings: {
          target: appTarget,
          unit: 'acme-app.service',
          'health-url': healthUrl(),
          'health-timeout': String(healthTimeout),
        },
        artifacts: [artifact.artifactId],
      },
    ],
  });
}

/** Rolls the release out to the device (one wave) and waits for the rollout's end. */
async function rollOut(releaseId: string): Promise<RolloutBody> {
  const { status, body } = await api('operator').request<{ rollout: RolloutBody }>('POST', 'rollouts', {
    releaseId,
    target: { deviceIds: [deviceId] },
    waves: [{ percent: 100, soakSeconds: 1 }],
  });
  expect(status, JSON.stringify(body)).toBe(201);
  return eventually(async () => {
    const rollout = (await api('viewer').request<RolloutBody>('GET', `rollouts/${body.rollout.rolloutId}`))
      .body;
    return ['succeeded', 'halted', 'aborted'].includes(rollout.status) ? rollout : undefined;
  }, 240_000);
}

/** The device's execution in the rollout, once `predicate` holds for it. */
const untilExecution = (rolloutId: string, predicate: (device: RolloutDevice) => boolean) =>
  eventually(async () => {
    const { body } = await api('viewer').request<{ items: RolloutDevice[] }>(
      'GET',
      `rollouts/${rolloutId}/devices?limit=10`,
    );
    const device = body.items.find((d) => d.deviceId === deviceId);
    return device && predicate(device) ? device : undefined;
  }, 60_000);

/** The registry's version of the device, from its shadow reports (a queue: give it time). */
const untilFirmware = (version: string) =>
  eventually(async () => {
    const device = await api('viewer').getDevice(deviceId);
    return device.firmwareVersion === version ? device : undefined;
  }, 100_000);

/** The daemon's log, for a failed expectation. */
const daemonLog = () => `daemon stdout:\n${agent?.stdout.join('\n')}\nstderr:\n${agent?.stderr.join('\n')}`;

async function killApp(): Promise<void> {
  const pid = Number(await readFile(pidFile, 'utf8').catch(() => '0'));
  if (pid <= 0) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  await eventually(async () => ((await processIsDead(pid)) ? true : undefined), 5_000);
}

async function processIsDead(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'agent-app-e2e-'));
  const registration = await api().registerDevice(profile());
  deviceId = registration.device.deviceId;
  const { mqtt } = context();
  const identity = await writeIdentity(dir, { ...registration.credentials, ca: mqtt.ca });
  const trustRoot = join(dir, 'trust-root.json');
  await writeFile(trustRoot, JSON.stringify(registration.trustRoot));

  // The handlers as the package installs them: 0755, in a dir nobody else may write.
  const handlersDir = join(dir, 'update-modules');
  await mkdir(handlersDir, { mode: 0o755 });
  await chmod(handlersDir, 0o755);
  for (const name of await readdir(SHIPPED_HANDLERS)) {
    await copyFile(join(SHIPPED_HANDLERS, name), join(handlersDir, name));
    await chmod(join(handlersDir, name), 0o755);
  }
  const restart = join(dir, 'restart-app');
  await writeFile(restart, RESTART_APP, { mode: 0o755 });
  port = await closedPort();
  appTarget = join(dir, 'opt/acme-app');
  await mkdir(join(dir, 'opt'));
  pidFile = join(dir, 'app.pid');

  configPath = await writeConfig(
    join(dir, 'agent.json'),
    daemonConfig({ ...identity, trustRoot }, join(dir, 'state'), {
      deviceId,
      hardwareType: registration.device.hardwareType,
      factoryVersion: FACTORY,
      mqtt: { host: mqtt.host, port: mqtt.port },
      updateModules: {
        dir: handlersDir,
        timeouts: { HealthCheck: 60 },
        env: {
          EDGEOPS_RESTART_COMMAND: restart,
          APP_PIDFILE: pidFile,
          APP_LOG: join(dir, 'app.log'),
          APP_NODE: process.execPath,
          APP_PORT: String(port),
        },
      },
      downloads: { allowPlainHttp: true },
    }),
  );
  agent = startDaemon(['--config', configPath]);
  await agent.line(
    new RegExp(`^connected to .* as ${deviceId}, running ${FACTORY.replaceAll('.', '\\.')} \\(slot A\\)$`),
    60_000,
  );
  // A rollout plans from the version the registry holds: wait until it has the first report.
  await untilFirmware(FACTORY);
});

afterAll(async () => {
  if (agent && agent.child.exitCode === null && agent.child.signalCode === null) {
    agent.child.kill('SIGKILL');
    await agent.exited;
  }
  if (pidFile) await killApp();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('edgeops-agent updating an app through the directory update module', () => {
  const v1 = `${FACTORY.split('.')[0]}.1.0`;
  const v2 = `${FACTORY.split('.')[0]}.2.0`;

  it('installs the app, starts it, checks it over HTTP and commits; the rollout succeeds', async () => {
    const release = await appRelease(v1, 'acme-1.0.0', 200, 30);

    const rollout = await rollOut(release.releaseId);

    expect(rollout.status, `${rollout.haltReason}\n${daemonLog()}`).toBe('succeeded');
    await untilExecution(rollout.rolloutId, (d) => d.stage === 'healthy');
    await untilFirmware(v1);
    expect(await appAnswer()).toEqual({ status: 200, body: 'acme-1.0.0' });
    expect(await readFile(join(appTarget, 'version.txt'), 'utf8')).toBe('acme-1.0.0');
    // Committed: no backup or half-extracted copy left beside it.
    expect((await readdir(join(dir, 'opt'))).sort()).toEqual(['acme-app']);
  }, 300_000);

  it('reverts a broken app: the old one answers again, the device reports rolled-back naming the component', async () => {
    const release = await appRelease(v2, 'acme-2.0.0', 500, 5);

    const rollout = await rollOut(release.releaseId);

    expect(rollout.status, daemonLog()).toBe('halted');
    expect(rollout.haltReason).toMatch(
      new RegExp(`^Wave 1: 1 device\\(s\\) failed, more than the 0 allowed \\(${deviceId}: `),
    );
    const execution = await untilExecution(
      rollout.rolloutId,
      (d) => d.stage === 'rolled-back' && d.jobStatus !== undefined,
    );
    expect(execution.reason).toMatch(
      /^component app: health-check-failed: handler-failed: directory HealthCheck exit 1: directory: not healthy after 5 s/,
    );
    expect(execution.jobStatus).toBe('FAILED');
    await eventually(async () => ((await appAnswer())?.body === 'acme-1.0.0' ? true : undefined), 10_000);
    expect(await appAnswer()).toEqual({ status: 200, body: 'acme-1.0.0' });
    expect(await readFile(join(appTarget, 'version.txt'), 'utf8')).toBe('acme-1.0.0');
    expect((await readdir(join(dir, 'opt'))).sort()).toEqual(['acme-app']);
    expect((await api('viewer').getDevice(deviceId)).firmwareVersion).toBe(v1);
  }, 300_000);

  it('stops on SIGTERM and leaves nothing of the daemon running', async () => {
    const daemon = agent as DaemonProcess;

    daemon.child.kill('SIGTERM');

    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.stdout.at(-1)).toBe('stopped');
    expect(await processesMentioning(configPath)).toEqual([]);
    // The app is a service of its own: it outlives the agent until stopped.
    expect((await appAnswer())?.status).toBe(200);
    await killApp();
    expect(await processesMentioning(dir)).toEqual([]);
  });
});
