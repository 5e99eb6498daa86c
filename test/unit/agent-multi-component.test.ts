import { chmod, mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { componentTargetPaths, type OtaEventV1 } from '../../contract/ota';
import { createDelta } from '../../contract/zstd-delta';
import { DeviceAgent, type DeviceAgentOtaOptions } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';
import { sha256 } from '../support/bytes';
import { readCalls, SCRIPTED_HANDLER } from './update-modules-fixtures';

const THING = 'dev-0001';
const HW = 'rpi4';
const JOB = 'r2-w0';
const SHIPPED_HANDLERS = join(import.meta.dirname, '../../device/update-modules/handlers');

function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

const FIRMWARE_1 = pseudoRandomBytes(32 * 1024, 0x2545f491);
const FIRMWARE_2 = pseudoRandomBytes(40 * 1024, 0x1b873593);
const CONFIG_1 = 'mode=one\n';
const CONFIG_2 = 'mode=two\n';
const CONFIG_3 = 'mode=three\n';
const MODEL_2 = Buffer.from('weights 2.0.0\n'.repeat(200));

/**
 * A handler for an app whose HealthCheck hangs: it installs a marker file at its target, and its
 * rollback removes it and leaves `<target>.rolled-back`.
 */
const HANGING_APP = `#!/bin/sh
set -eu
case $1 in
  ArtifactInstall) echo "$EDGEOPS_VERSION" >"$EDGEOPS_TARGET" ;;
  NeedsArtifactReboot) echo No ;;
  SupportsRollback) echo Yes ;;
  HealthCheck) sleep 30 ;;
  ArtifactRollback) rm -f "$EDGEOPS_TARGET"; : >"$EDGEOPS_TARGET.rolled-back" ;;
esac
exit 0
`;

let core: InMemoryIotCore;
let server: LocalArtifactServer;
let repo: LocalReleaseRepository;
let root: string;
let stateDir: string;
let handlersDir: string;
let configPath: string;
let modelsRoot: string;
let logs: string[];
const agents: DeviceAgent[] = [];

beforeEach(async () => {
  core = new InMemoryIotCore();
  server = await startLocalArtifactServer();
  repo = await LocalReleaseRepository.create(server);
  root = await mkdtemp(join(tmpdir(), 'edgeops-multi-'));
  stateDir = join(root, 'state');
  handlersDir = join(root, 'handlers');
  configPath = join(root, 'device/etc/gateway.conf');
  modelsRoot = join(root, 'device/models');
  logs = [];
  // Installed as a device package would: 0755 in a dir only the agent's user can write.
  await mkdir(handlersDir);
  await chmod(handlersDir, 0o755);
  for (const name of ['single-file', 'ml-model'])
    await installHandler(name, await readFile(join(SHIPPED_HANDLERS, name), 'utf8'));
  // What the device runs before the update: config one, model 1.0.0.
  await mkdir(join(root, 'device/etc'), { recursive: true });
  await writeFile(configPath, CONFIG_1);
  await mkdir(join(modelsRoot, '1.0.0'), { recursive: true });
  await writeFile(join(modelsRoot, '1.0.0/model.bin'), 'weights 1.0.0\n');
  await symlink('1.0.0', join(modelsRoot, 'current'));
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await server.close();
  await rm(root, { recursive: true, force: true });
});

async function installHandler(name: string, script: string) {
  await writeFile(join(handlersDir, name), script);
  await chmod(join(handlersDir, name), 0o755);
}

interface Part {
  readonly name: string;
  readonly handler: string;
  readonly version: string;
  readonly bytes: Uint8Array;
  readonly settings?: Record<string, string>;
}

const firmware = (bytes: Uint8Array, version = '2.0.0'): Part => ({
  name: 'firmware',
  handler: 'rootfs',
  version,
  bytes,
});
const config = (content: string, version: string): Part => ({
  name: 'config',
  handler: 'single-file',
  version,
  bytes: Buffer.from(content),
  settings: { target: configPath },
});
const model = (bytes: Uint8Array, version: string, settings: Record<string, string> = {}): Part => ({
  name: 'model',
  handler: 'ml-model',
  version,
  bytes,
  settings: { target: modelsRoot, 'payload-name': 'model.bin', ...settings },
});

/** Signs each part as a component of `version` (install order as given) and returns its v3 job. */
async function release(version: string, parts: readonly Part[], listed?: readonly string[]) {
  const rel = { releaseId: `rel-${version}`, version };
  const published = [];
  for (const [order, part] of parts.entries()) {
    const { name, handler, settings } = part;
    const target = await repo.addComponent(
      rel,
      HW,
      { name, handler, order, version: part.version, ...(settings ? { settings } : {}) },
      part.bytes,
    );
    published.push({ name, target: target.target, url: target.url });
  }
  const byName = new Map(published.map((p) => [p.name, p]));
  const components = listed ? listed.map((name) => byName.get(name)) : published;
  return repo.jobDocumentV3({
    rolloutId: `r-${version}`,
    operation: 'install',
    release: rel,
    artifacts: [{ hardwareType: HW, components: components as typeof published }],
    healthCheckSeconds: 1,
  });
}

const release2 = (modelSettings: Record<string, string> = {}) =>
  release('2.0.0', [firmware(FIRMWARE_2), config(CONFIG_2, '2.0.0'), model(MODEL_2, '2.0.0', modelSettings)]);

function newAgent(ota: Partial<DeviceAgentOtaOptions> = {}) {
  const agent = new DeviceAgent({
    identity: { deviceId: THING },
    connector: core.connector(THING),
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    log: (line) => logs.push(line),
    ota: {
      stateDir,
      hardwareType: HW,
      allowPlainHttp: true,
      timeFactor: 0.001,
      fsync: false,
      trustRoot: repo.root,
      factoryImage: FIRMWARE_1,
      updateModules: { handlersDir, killGraceMs: 200 },
      ...ota,
    },
  });
  agents.push(agent);
  return agent;
}

async function startedAgent(ota: Partial<DeviceAgentOtaOptions> = {}) {
  const agent = newAgent(ota);
  await agent.start();
  return agent;
}

const TERMINAL = ['SUCCEEDED', 'FAILED', 'REJECTED'];

async function finished(agent: DeviceAgent, jobId = JOB) {
  const execution = await core.waitFor(
    () => {
      const e = core.execution(THING, jobId);
      return e && TERMINAL.includes(e.status) ? e : undefined;
    },
    10_000,
    `job ${jobId} to end`,
  );
  await agent.whenIdle();
  return execution;
}

async function until(check: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const events = (jobId = JOB) => core.otaEvents(THING).filter((e) => e.jobId === jobId);
const stages = (jobId = JOB) => events(jobId).map((e) => e.stage);
const bootState = async () => JSON.parse(await readFile(join(stateDir, 'boot.json'), 'utf8'));
const installedComponents = async () =>
  JSON.parse(await readFile(join(stateDir, 'installed-components.json'), 'utf8').catch(() => '{}')) as Record<
    string,
    { version: string; sha256: string; handler: string }
  >;
const componentRequests = () => server.requests.filter((r) => r.path.startsWith('targets/'));
const reboots = () => logs.filter((line) => line.endsWith('] rebooting')).length;
const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** What the device runs: the slot, the config file, the model `current` points at. */
async function deviceRuns() {
  return {
    slot: (await bootState()).active,
    config: await readFile(configPath, 'utf8'),
    model: await readlink(join(modelsRoot, 'current')),
  };
}
const OLD = { slot: 'A', config: CONFIG_1, model: '1.0.0' };
const NEW = { slot: 'B', config: CONFIG_2, model: '2.0.0' };

describe('DeviceAgent multi-component update: all healthy', () => {
  it('installs firmware, config and model in their order, reboots once and commits them all', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, await release2(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(await deviceRuns()).toEqual(NEW);
    expect(await readFile(join(modelsRoot, 'current/model.bin'))).toEqual(MODEL_2);
    expect(reboots()).toBe(1);
    const installs = ['config ArtifactInstall ok', 'model ArtifactInstall ok'].map((step) =>
      logs.findIndex((line) => line.includes(`update-modules: ${step}`)),
    );
    expect(installs[0]).toBeGreaterThanOrEqual(0);
    expect(installs[0]).toBeLessThan(installs[1] ?? -1);
    expect(await installedComponents()).toMatchObject({
      firmware: { version: '2.0.0', sha256: sha256(FIRMWARE_2), handler: 'rootfs' },
      config: { version: '2.0.0', sha256: sha256(CONFIG_2), handler: 'single-file' },
      model: { version: '2.0.0', sha256: sha256(MODEL_2), handler: 'ml-model' },
    });
  });

  it('reports every stage once, in order, and the bytes and image sizes of all three together', async () => {
    const agent = await startedAgent();
    const total = FIRMWARE_2.length + CONFIG_2.length + MODEL_2.length;

    core.createJob(JOB, await release2(), [THING]);
    const execution = await finished(agent);

    expect(events().map((e) => [e.stage, e.runningVersion, e.slot, e.seq])).toEqual([
      ['downloading', '1.0.0', 'A', 0],
      ['installing', '1.0.0', 'A', 1],
      ['rebooting', '1.0.0', 'A', 2],
      ['healthy', '2.0.0', 'B', 3],
    ]);
    expect(events().at(-1)).toMatchObject({
      bytesDownloaded: total,
      transfer: { mode: 'full', imageBytes: total },
    });
    expect(execution.statusDetails).toEqual({ stage: 'healthy', runningVersion: '2.0.0' });
    expect(agent.firmwareVersion).toBe('2.0.0');
    expect(core.reportedState(THING)?.firmwareVersion).toBe('2.0.0');
  });
});

describe('DeviceAgent multi-component update: deltas', () => {
  it('rebuilds the firmware component from a signed delta against its active slot, and says delta in the totals', async () => {
    const base = FIRMWARE_2.map((b, i) => (i % 4000 === 0 ? b ^ 1 : b));
    const patch = await createDelta(Buffer.from(base), FIRMWARE_2);
    const rel = { releaseId: 'rel-2.0.0', version: '2.0.0' };
    const facts = { name: 'firmware', handler: 'rootfs', order: 0, version: '2.0.0' };
    const delta = await repo.addComponentDelta(rel, HW, facts, patch, base, FIRMWARE_2);
    const document = await release2();
    const [entry] = document.artifacts;
    if (!entry) throw new Error('no artifact');
    document.artifacts = [
      {
        ...entry,
        components: entry.components.map((c) =>
          c.name === 'firmware'
            ? { ...c, deltas: [{ baseSha256: sha256(base), target: delta.target, url: delta.url }] }
            : c,
        ),
      },
    ];
    const agent = await startedAgent({ factoryImage: base });

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(await deviceRuns()).toEqual(NEW);
    expect(componentRequests().map((r) => r.path)).toEqual([
      `targets/${delta.target}`,
      'targets/rel-2.0.0/rpi4/config/image',
      'targets/rel-2.0.0/rpi4/model/image',
    ]);
    expect(events().at(-1)).toMatchObject({
      bytesDownloaded: patch.length + CONFIG_2.length + MODEL_2.length,
      transfer: { mode: 'delta', imageBytes: FIRMWARE_2.length + CONFIG_2.length + MODEL_2.length },
    });
  });
});

describe('DeviceAgent multi-component update: one component fails, all roll back', () => {
  it("rolls the slot, the config file and the model's symlink back when the model's HealthCheck fails", async () => {
    const agent = await startedAgent();

    core.createJob(JOB, await release2({ 'health-command': 'test -s missing-file' }), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'rolled-back',
      reason:
        'component model: health-check-failed: handler-failed: ml-model HealthCheck exit 1: ml-model: health command failed',
      runningVersion: '1.0.0',
    });
    expect(await deviceRuns()).toEqual(OLD);
    expect(await exists(join(modelsRoot, '2.0.0'))).toBe(false);
    expect(await installedComponents()).toEqual({});
    expect(agent.firmwareVersion).toBe('1.0.0');
  });

  it('reports rolled-back with the component after the trial, back on slot A, having rebooted there and back', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, await release2({ 'health-command': 'false' }), [THING]);
    await finished(agent);

    expect(events().map((e) => [e.stage, e.runningVersion, e.slot])).toEqual([
      ['downloading', '1.0.0', 'A'],
      ['installing', '1.0.0', 'A'],
      ['rebooting', '1.0.0', 'A'],
      ['rolled-back', '1.0.0', 'A'],
    ]);
    expect(events().at(-1)?.reason).toMatch(/^component model: health-check-failed: /);
    expect(reboots()).toBe(2);
    expect(core.reportedState(THING)?.firmwareVersion).toBe('1.0.0');
  });

  it('rolls back every component when a handler hangs past its timeout, in place without a reboot', async () => {
    await installHandler('hanging-app', HANGING_APP);
    const appPath = join(root, 'device/app.version');
    const agent = await startedAgent({
      updateModules: { handlersDir, killGraceMs: 200, timeouts: { HealthCheck: 1 } },
    });
    const document = await release('2.0.0', [
      config(CONFIG_2, '2.0.0'),
      {
        name: 'app',
        handler: 'hanging-app',
        version: '2.0.0',
        bytes: Buffer.from('app'),
        settings: { target: appPath },
      },
    ]);

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'rolled-back',
      reason: 'component app: health-check-failed: handler-timeout: hanging-app HealthCheck after 1 s',
    });
    expect(stages()).toEqual(['downloading', 'installing', 'rolled-back']);
    expect(await readFile(configPath, 'utf8')).toBe(CONFIG_1);
    expect(await exists(appPath)).toBe(false);
    expect(await exists(`${appPath}.rolled-back`)).toBe(true);
    expect(reboots()).toBe(0);
  });

  it('refuses a job whose handler this device does not have, before downloading anything', async () => {
    const agent = await startedAgent();
    const document = await release('2.0.0', [
      config(CONFIG_2, '2.0.0'),
      {
        name: 'app',
        handler: 'directory',
        version: '2.0.0',
        bytes: Buffer.from('app'),
        settings: { target: '/opt/app' },
      },
    ]);

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(
      /^handler-unusable: component app: no handler 'directory' in /,
    );
    expect(componentRequests()).toHaveLength(0);
  });
});

describe('DeviceAgent multi-component update: rootfs through its update module', () => {
  /** `rootfs` as a scripted handler (a stand-in for RAUC) that logs its calls and reboots (`Yes`). */
  async function scriptedRootfs() {
    await installHandler('rootfs', SCRIPTED_HANDLER);
    const callsLog = join(root, 'calls.log');
    const agent = await startedAgent({
      rootfs: 'update-module',
      updateModules: { handlersDir, killGraceMs: 200, env: { CALLS_LOG: callsLog } },
    });
    return { agent, calls: () => readCalls(callsLog) };
  }
  const rootfsPart = (settings: Record<string, string>): Part => ({
    ...firmware(FIRMWARE_2),
    settings: { reboot: 'Yes', ...settings },
  });

  it('installs the rootfs with its handler, reboots once for it, and runs the release on the same slot', async () => {
    const { agent, calls } = await scriptedRootfs();

    core.createJob(JOB, await release('2.0.0', [rootfsPart({}), config(CONFIG_2, '2.0.0')]), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(events().map((e) => [e.stage, e.runningVersion, e.slot])).toEqual([
      ['downloading', '1.0.0', 'A'],
      ['installing', '1.0.0', 'A'],
      ['rebooting', '1.0.0', 'A'],
      ['healthy', '2.0.0', 'A'],
    ]);
    expect(await calls()).toEqual(
      [
        'Download',
        'ArtifactInstall',
        'NeedsArtifactReboot',
        'ArtifactReboot',
        'ArtifactVerifyReboot',
        'HealthCheck',
        'ArtifactCommit',
        'Cleanup',
      ].map((state) => `firmware ${state}`),
    );
    expect(reboots()).toBe(1);
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect(await readFile(configPath, 'utf8')).toBe(CONFIG_2);
    expect(agent.firmwareVersion).toBe('2.0.0');
  });

  it('rolls the rootfs back through a reboot when its HealthCheck fails, and the config with it', async () => {
    const { agent, calls } = await scriptedRootfs();

    core.createJob(
      JOB,
      await release('2.0.0', [rootfsPart({ fail: 'HealthCheck' }), config(CONFIG_2, '2.0.0')]),
      [THING],
    );
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'rolled-back',
      reason:
        'component firmware: health-check-failed: handler-failed: rootfs HealthCheck exit 1: scripted failure in HealthCheck',
      runningVersion: '1.0.0',
    });
    expect((await calls()).slice(5)).toEqual(
      [
        'HealthCheck',
        'SupportsRollback',
        'ArtifactRollback',
        'ArtifactRollbackReboot',
        'ArtifactVerifyRollbackReboot',
        'ArtifactFailure',
        'Cleanup',
      ].map((state) => `firmware ${state}`),
    );
    expect(reboots()).toBe(2);
    expect(await readFile(configPath, 'utf8')).toBe(CONFIG_1);
  });
});

describe('DeviceAgent multi-component update: components it already runs', () => {
  it('installs only the component that changed, without a reboot, and runs the new release', async () => {
    const agent = await startedAgent();
    core.createJob(JOB, await release2(), [THING]);
    await finished(agent);
    const before = componentRequests().length;

    core.createJob(
      'r3-w0',
      await release('3.0.0', [
        firmware(FIRMWARE_2, '2.0.0'),
        config(CONFIG_3, '3.0.0'),
        model(MODEL_2, '2.0.0'),
      ]),
      [THING],
    );
    const execution = await finished(agent, 'r3-w0');

    expect(execution.status).toBe('SUCCEEDED');
    expect(
      componentRequests()
        .slice(before)
        .map((r) => r.path),
    ).toEqual(['targets/rel-3.0.0/rpi4/config/image']);
    expect(events('r3-w0').map((e) => [e.stage, e.runningVersion, e.slot])).toEqual([
      ['downloading', '2.0.0', 'B'],
      ['installing', '2.0.0', 'B'],
      ['healthy', '3.0.0', 'B'],
    ]);
    expect(events('r3-w0').at(-1)).toMatchObject({
      bytesDownloaded: CONFIG_3.length,
      transfer: { mode: 'full', imageBytes: CONFIG_3.length },
    });
    expect(await deviceRuns()).toEqual({ slot: 'B', config: CONFIG_3, model: '2.0.0' });
    expect(reboots()).toBe(1);
    expect(agent.firmwareVersion).toBe('3.0.0');
    expect(core.reportedState(THING)?.firmwareVersion).toBe('3.0.0');
    expect((await installedComponents()).config?.version).toBe('3.0.0');
  });

  it('succeeds at once when it runs every component of the release already', async () => {
    const agent = await startedAgent();
    core.createJob(JOB, await release2(), [THING]);
    await finished(agent);
    const before = componentRequests().length;

    core.createJob(
      'r4-w0',
      await release('4.0.0', [firmware(FIRMWARE_2), config(CONFIG_2, '2.0.0'), model(MODEL_2, '2.0.0')]),
      [THING],
    );
    const execution = await finished(agent, 'r4-w0');

    expect(execution.status).toBe('SUCCEEDED');
    expect(events('r4-w0').map((e) => [e.stage, e.runningVersion, e.seq])).toEqual([['healthy', '4.0.0', 0]]);
    expect(componentRequests()).toHaveLength(before);
    expect(agent.firmwareVersion).toBe('4.0.0');
  });
});

describe('DeviceAgent multi-component update: download limits', () => {
  it("gives each component's download the budget of the document's limits for its hardware type", async () => {
    const agent = await startedAgent({ downloadLimits: { maxSeconds: 3600 } });
    const document = await release('2.0.0', [config(CONFIG_2, '2.0.0'), model(MODEL_2, '2.0.0')]);
    const [entry] = document.artifacts;
    if (!entry) throw new Error('no artifact');
    document.artifacts = [{ ...entry, download: { maxSeconds: 50 } }];
    server.injectFault(
      { kind: 'trickle', bytes: 1, everyMs: 20 },
      { path: 'targets/rel-2.0.0/rpi4/model/image' },
    );

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'failed',
      reason: expect.stringMatching(
        new RegExp(
          `^component model: download-too-slow: \\d+/${MODEL_2.length} bytes after 5\\d s, floor 8192 B/s, deadline 50 s$`,
        ),
      ),
    });
    expect(await deviceRuns()).toEqual(OLD);
  });
});

describe('DeviceAgent multi-component update: refusals', () => {
  it('refuses a document that lists the components in another order than the signed one', async () => {
    const agent = await startedAgent();
    const document = await release(
      '2.0.0',
      [firmware(FIRMWARE_2), config(CONFIG_2, '2.0.0'), model(MODEL_2, '2.0.0')],
      ['config', 'firmware', 'model'],
    );

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toBe(
      'component-order-mismatch: the job lists config before firmware, signed install order 1 and 0',
    );
    expect(componentRequests()).toHaveLength(0);
    expect(await deviceRuns()).toEqual(OLD);
  });

  it('refuses a component whose signed facts name another component', async () => {
    const agent = await startedAgent();
    const rel = { releaseId: 'rel-2.0.0', version: '2.0.0' };
    const path = componentTargetPaths('config').image(rel.releaseId, HW);
    const signed = await repo.signTarget(path, Buffer.from(CONFIG_2), {
      ...rel,
      hardwareType: HW,
      kind: 'image',
      component: { name: 'settings', handler: 'single-file', order: 0, version: '2.0.0', settings: {} },
    });
    const document = repo.jobDocumentV3({
      rolloutId: 'r2',
      operation: 'install',
      release: rel,
      artifacts: [
        { hardwareType: HW, components: [{ name: 'config', target: signed.target, url: signed.url }] },
      ],
    });

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toBe(
      'component-mismatch: rel-2.0.0/rpi4/config/image is signed as component settings, the job names config',
    );
    expect(componentRequests()).toHaveLength(0);
  });

  it('refuses a v1 document', async () => {
    const agent = await startedAgent();
    const document = { ...(await release2()), schema: 'edgeops.ota.v1' };

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(/^invalid-job-document: schema: /);
  });
});

describe('DeviceAgent multi-component update: a power cut at every write point', () => {
  /** As in agent-ota-update.test.ts: the power goes at write `cutAt`; the device starts again. */
  async function updateWithPowerCut(cutAt: number, document: unknown) {
    core = new InMemoryIotCore();
    await rm(stateDir, { recursive: true, force: true });
    await writeFile(configPath, CONFIG_1);
    await rm(join(modelsRoot, '2.0.0'), { recursive: true, force: true });
    await rm(join(modelsRoot, 'current'), { force: true });
    await symlink('1.0.0', join(modelsRoot, 'current'));
    core.createJob(JOB, document, [THING]);
    let writes = 0;
    let cut: string | undefined;
    let crashing: Promise<void> | undefined;
    const agent = newAgent({
      beforeWrite: (path) => {
        if (++writes !== cutAt) return;
        cut = relative(stateDir, path).replace(/\/work\/[a-z]+\//, '/work/<component>/');
        crashing = agent.crash();
        throw new Error('power cut');
      },
    });
    await agent.start().catch(() => {});
    await until(async () => cut !== undefined || TERMINAL.includes(core.execution(THING, JOB)?.status ?? ''));
    await crashing;
    await agent.whenIdle();
    if (cut === undefined) return { cut };
    const restarted = await startedAgent();
    await finished(restarted);
    return { cut };
  }

  /** The job's events as the cloud applies them: the first of each eventId, in arrival order. */
  function appliedEvents() {
    const seen = new Map<string, OtaEventV1>();
    for (const event of core.otaEvents(THING)) {
      const first = seen.get(event.eventId);
      if (first) expect([event.seq, event.stage]).toEqual([first.seq, first.stage]);
      else seen.set(event.eventId, event);
    }
    return [...seen.values()];
  }

  const collapse = (list: string[]) => list.filter((stage, i) => stage !== list[i - 1]);

  /** Cuts at write 1, 2, ... until an update runs through without reaching the cut. */
  async function cutEverywhere(document: unknown, check: (context: string) => Promise<void>) {
    const cuts: string[] = [];
    for (let cutAt = 1; ; cutAt++) {
      const { cut } = await updateWithPowerCut(cutAt, document);
      if (cut === undefined) break;
      cuts.push(cut);
      const context = `power cut at write ${cutAt} (${cut})`;
      const applied = appliedEvents();
      // Every seq once, in order, none missing: no event was lost, none applied twice.
      expect(
        applied.map((e) => e.seq),
        context,
      ).toEqual(applied.map((_, i) => i));
      expect(JSON.parse(await readFile(join(stateDir, 'outbox.json'), 'utf8')), context).toEqual([]);
      expect(await exists(join(stateDir, 'job.json')), context).toBe(false);
      await check(context);
    }
    return cuts;
  }

  /** Rolled back after a failure: every component old, the job FAILED with a component's reason. */
  async function expectRolledBack(context: string, reason: RegExp) {
    const applied = appliedEvents();
    expect(core.execution(THING, JOB)?.status, context).toBe('FAILED');
    expect(applied.at(-1)?.stage, context).toBe('rolled-back');
    expect(applied.at(-1)?.reason, context).toMatch(reason);
    expect(await deviceRuns(), context).toEqual(OLD);
    expect(await exists(join(modelsRoot, '2.0.0')), context).toBe(false);
    expect(core.reportedState(THING)?.firmwareVersion, context).toBe('1.0.0');
  }

  it('loses no stage and ends with every component new, or every component old, wherever the power goes', async () => {
    const outcomes = new Set<string>();
    const cuts = await cutEverywhere(await release2(), async (context) => {
      const status = core.execution(THING, JOB)?.status;
      outcomes.add(`${status}`);
      if (status !== 'SUCCEEDED') {
        // A power cut while a handler installed or judged its component fails that component
        // (update-modules: `interrupted: …`): everything goes back.
        await expectRolledBack(context, /^component (config|model): [a-z-]+: interrupted: /);
        return;
      }
      expect(collapse(appliedEvents().map((e) => e.stage)), context).toEqual([
        'downloading',
        'installing',
        'rebooting',
        'healthy',
      ]);
      expect(await deviceRuns(), context).toEqual(NEW);
      expect(core.reportedState(THING)?.firmwareVersion, context).toBe('2.0.0');
    });

    expect([...new Set(cuts)]).toEqual(
      expect.arrayContaining([
        'boot.json',
        'slots/B/meta.json',
        'slots/B/image.bin',
        'job.json',
        'outbox.json',
        'finished-jobs.json',
        'installed-components.json',
        'update-modules/work/<component>/state.json',
        'update-modules/work/<component>/header/component.json',
      ]),
    );
    expect(outcomes).toEqual(new Set(['SUCCEEDED', 'FAILED']));
    expect(cuts.length).toBeGreaterThanOrEqual(50);
  }, 300_000);

  it('puts every component back after a failed health check, wherever the power goes', async () => {
    const cuts = await cutEverywhere(await release2({ 'health-command': 'false' }), async (context) => {
      await expectRolledBack(
        context,
        /^component (config|model): [a-z-]+: (interrupted: |handler-failed: ml-model HealthCheck)/,
      );
      // Rolled back after the trial, or (a handler's install cut short) before the reboot.
      expect(
        [
          ['downloading', 'installing', 'rebooting', 'rolled-back'],
          ['downloading', 'installing', 'rolled-back'],
        ],
        context,
      ).toContainEqual(collapse(appliedEvents().map((e) => e.stage)));
    });

    // The rollback's own writes were cut too: the decision, the handlers' steps, the slot.
    expect(cuts.filter((cut) => cut === 'update-modules/work/<component>/state.json').length).toBeGreaterThan(
      30,
    );
    expect(cuts.length).toBeGreaterThanOrEqual(60);
  }, 300_000);
});

describe('DeviceAgent: a job record from before multi-component releases', () => {
  it('finishes a single-image update whose job.json an older agent wrote (one artifact, no components)', async () => {
    const rel = { releaseId: 'rel-2.0.0', version: '2.0.0' };
    const image = await repo.addImage(rel, HW, FIRMWARE_2);
    const document = repo.jobDocument({
      rolloutId: 'r2',
      operation: 'install',
      release: rel,
      artifacts: [{ hardwareType: HW, target: image.target, url: image.url }],
    });
    let inTrial: () => void = () => {};
    const trial = new Promise<void>((resolve) => {
      inTrial = resolve;
    });
    const old = await startedAgent({
      healthCheck: ({ signal }) => {
        inTrial();
        return new Promise((_, reject) => signal.addEventListener('abort', reject, { once: true }));
      },
    });
    core.createJob(JOB, document, [THING]);
    await trial;
    await old.crash();
    const jobFile = join(stateDir, 'job.json');
    const { components, ...job } = JSON.parse(await readFile(jobFile, 'utf8'));
    const [{ image: artifact, transfer, bytesDownloaded }] = components;
    await writeFile(jobFile, JSON.stringify({ ...job, artifact, transfer, bytesDownloaded }));

    const upgraded = await startedAgent();
    const execution = await finished(upgraded);

    expect(execution.status).toBe('SUCCEEDED');
    expect(stages()).toEqual(['downloading', 'installing', 'rebooting', 'healthy']);
    expect(await bootState()).toEqual({ active: 'B', pending: null, trialBoots: 0 });
    expect(upgraded.firmwareVersion).toBe('2.0.0');
  });
});
