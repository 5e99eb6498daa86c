/**
 * Power cuts during OTA updates, for real: the `edgeops-agent` daemon runs as a child process and
 * speaks MQTT over mutual TLS to `IotCoreMqttBroker` (in front of `InMemoryIotCore`), downloads
 * from a local artifact server behind a throttled link, and is SIGKILLed (with every process it
 * started) at random points of an update, then started again, until the update ends.
 *
 * 1. Set up: a throwaway CA, the broker, the artifact server, a signed release (v2: one image on
 *    the A/B slots; v3: root file system, app and model, all or nothing), the daemon bundled once
 *    (or run from source through tsx).
 * 2. Baseline cycles: one update each, no kills; their median time is the kill window.
 * 3. Kill cycles until at least `kills` kills: a fresh device (thing, certificate, state dir) boots
 *    and connects, the job is created, then each run of the daemon is power-cut after a random
 *    delay within the kill window, and started again at once, until the job's status is terminal.
 * 4. After each cycle: one more power cut, one more boot, and the checks: the device boots and
 *    reports a version (not bricked); what it runs is all old or all new, matching the job's
 *    status; the cloud holds every event the device made for the job (seq 0..lastSeq of its
 *    `finished-jobs.json`, no gap, one eventId per seq) and the last one matches the status.
 *
 * Seeded: the same seed gives the same kill delays (where they land still varies with timing).
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleAgent } from '../scripts/build-agent';
import { DeviceProcess, powerCut } from './device-process';
import { InMemoryIotCore } from './in-memory-iot-core';
import { type IotCoreMqttBroker, startIotCoreMqttBroker } from './iot-core-mqtt-broker';
import { type LocalArtifactServer, startLocalArtifactServer } from './local-artifact-server';
import { LocalCertificateAuthority } from './local-certificate-authority';
import { LocalReleaseRepository } from './local-release-repository';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const HARDWARE_TYPE = 'rpi4';
const FACTORY_VERSION = '1.0.0';

/** Which job document the release goes out as: v2 (one image, A/B slots) or v3 (components). */
export type DocumentKind = 'v2' | 'v3';

export interface KillHarnessOptions {
  /** Kill cycles run until at least this many kills. */
  readonly kills: number;
  readonly seed: number;
  /** @default 'v3' */
  readonly documentKind?: DocumentKind;
  /** `bundle`: esbuild's bundle, as it ships (fast start); `source`: device/daemon/main.ts via tsx. @default 'bundle' */
  readonly daemon?: 'bundle' | 'source';
  /** Updates without kills, to measure the kill window. @default 3 */
  readonly baselineCycles?: number;
  /** @default 1 MiB */
  readonly imageBytes?: number;
  /** How fast the artifact server sends image bytes. @default 1 MiB/s */
  readonly linkBytesPerSecond?: number;
  /** The job document's soak before the health check. @default 1 */
  readonly healthCheckSeconds?: number;
  /** After this many kills in one cycle, the update is let through. @default 8 */
  readonly maxKillsPerCycle?: number;
  /** A cycle whose job is not terminal after this long is counted stuck. @default 120000 */
  readonly cycleTimeoutMs?: number;
  /** Aborting stops everything the run started. */
  readonly signal?: AbortSignal;
  readonly log?: (line: string) => void;
}

/** Where the job was, on disk, when the power went: a job phase, or before / after it. */
export type KillStage = string;
/** Stages in the order an update meets them; `starting`: no job record yet; `reporting`: outcome decided. */
export const KILL_STAGES = ['starting', 'downloading', 'installing', 'rebooting', 'trial', 'reporting'];

export interface KillRecord {
  /** Since this run of the daemon started (the first: since the job was created). */
  readonly afterMs: number;
  readonly stage: KillStage;
  /** `boot.json`'s spent trial boots, while a slot was pending. */
  readonly trialBoots?: number;
}

export interface CycleResult {
  readonly index: number;
  readonly kind: 'baseline' | 'kill';
  readonly thing: string;
  readonly jobId: string;
  readonly kills: readonly KillRecord[];
  /** The job execution's final status, or `STUCK` when it never ended. */
  readonly status: string;
  /** From job creation to its terminal status in the cloud. */
  readonly updateMs: number;
  /** What the device boots after the update: all old, all new, or neither. */
  readonly running: 'old' | 'new' | 'mixed' | 'none';
  readonly eventsLost: number;
  readonly bricked: boolean;
  /** Every check that failed, worded for a person. Empty when the cycle passed. */
  readonly problems: readonly string[];
  /** Kept for a cycle with problems. */
  readonly deviceDir?: string;
  readonly output?: readonly string[];
}

export interface KillHarnessReport {
  /** Every process the run started carried `EDGEOPS_POWER_DOMAIN=<runId>:<thing>`. */
  readonly runId: string;
  readonly seed: number;
  readonly documentKind: DocumentKind;
  /** The kill window: the baseline's median update time. */
  readonly killWindowMs: number;
  readonly cycles: readonly CycleResult[];
}

export async function runKillHarness(options: KillHarnessOptions): Promise<KillHarnessReport> {
  const log = options.log ?? (() => {});
  const signal = options.signal ?? new AbortController().signal;
  const work = await mkdtemp(join(tmpdir(), 'edgeops-kill-'));
  const runId = randomUUID().slice(0, 8);
  const domains = new Set<string>();
  const closers: (() => Promise<unknown>)[] = [];
  let keepWork = false;
  try {
    // 1. Set up.
    const ca = await LocalCertificateAuthority.create(work);
    const serverCertificate = await ca.issueServer();
    const core = new InMemoryIotCore();
    const broker = await startIotCoreMqttBroker({
      core,
      tls: {
        cert: serverCertificate.certificatePem,
        key: serverCertificate.privateKey,
        ca: ca.certificatePem,
      },
    });
    closers.push(() => broker.close());
    const artifacts = await startLocalArtifactServer();
    closers.push(() => artifacts.close());
    const repo = await LocalReleaseRepository.create(artifacts);
    const release = await publishRelease(options.documentKind ?? 'v3', repo, artifacts, options, work);
    const trustRoot = join(work, 'trust-root.json');
    await writeFile(trustRoot, JSON.stringify(repo.root));
    const daemon = await daemonCommand(options.daemon ?? 'bundle', work);
    signal.throwIfAborted();

    const env: CycleEnvironment = {
      ...{ core, broker, ca, release, trustRoot, daemon, work, runId, domains, signal, log },
      random: mulberry32(options.seed),
      maxKillsPerCycle: options.maxKillsPerCycle ?? 8,
      cycleTimeoutMs: options.cycleTimeoutMs ?? 120_000,
    };
    const cycles: CycleResult[] = [];
    const record = (cycle: CycleResult) => {
      cycles.push(cycle);
      if (cycle.problems.length > 0) keepWork = true;
      const kills = cycle.kills.map((k) => k.stage).join(', ');
      log(
        `cycle ${cycle.index} (${cycle.kind}): ${cycle.status} in ${ms(cycle.updateMs)}, ` +
          `${cycle.kills.length} kills${kills ? ` (${kills})` : ''}, runs ${cycle.running}` +
          (cycle.problems.length > 0 ? `\n  PROBLEMS:\n  - ${cycle.problems.join('\n  - ')}` : ''),
      );
    };

    // 2. Baseline.
    for (let i = 0; i < Math.max(1, options.baselineCycles ?? 3); i++)
      record(await runCycle(env, cycles.length, 'baseline', 0));
    const killWindowMs = median(cycles.map((c) => c.updateMs));
    log(`kill window: ${ms(killWindowMs)} (median of ${cycles.length} updates without kills)`);

    // 3. and 4. Kill cycles.
    const killed = () => cycles.reduce((sum, c) => sum + c.kills.length, 0);
    while (killed() < options.kills) record(await runCycle(env, cycles.length, 'kill', killWindowMs));

    return { runId, seed: options.seed, documentKind: release.kind, killWindowMs, cycles };
  } finally {
    await Promise.all([...domains].map((domain) => powerCut(domain).catch(() => {})));
    for (const close of closers.reverse()) await close().catch(() => {});
    if (keepWork) log(`kept ${work} (state dirs of the cycles with problems)`);
    else await rm(work, { recursive: true, force: true });
  }
}

interface CycleEnvironment {
  readonly core: InMemoryIotCore;
  readonly broker: IotCoreMqttBroker;
  readonly ca: LocalCertificateAuthority;
  readonly release: PublishedRelease;
  readonly trustRoot: string;
  readonly daemon: readonly [string, ...string[]];
  readonly work: string;
  readonly runId: string;
  readonly domains: Set<string>;
  readonly signal: AbortSignal;
  readonly log: (line: string) => void;
  readonly random: () => number;
  readonly maxKillsPerCycle: number;
  readonly cycleTimeoutMs: number;
}

/** The daemon prints this once `agent.start()` resolved: connected, first shadow report accepted. */
const BOOTED = /connected to \S+ as \S+, running (\S+) \(slot ([AB])\)/;
const BOOT_TIMEOUT_MS = 30_000;
const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'REMOVED', 'CANCELED']);

async function runCycle(
  env: CycleEnvironment,
  index: number,
  kind: 'baseline' | 'kill',
  killWindowMs: number,
): Promise<CycleResult> {
  const { core, signal } = env;
  const thing = `kill-${env.runId}-${index}`;
  const rolloutId = `kill-${index}`;
  const jobId = `${rolloutId}-w0`;
  const deviceDir = join(env.work, thing);
  const stateDir = join(deviceDir, 'state');
  await mkdir(deviceDir, { recursive: true });
  await env.release.factoryReset();
  const config = await writeDeviceConfig(env, thing, deviceDir, stateDir);
  const powerDomain = `${env.runId}:${thing}`;
  env.domains.add(powerDomain);
  const start = () =>
    DeviceProcess.start({ command: [...env.daemon, '--config', config], powerDomain, cwd: REPO_ROOT });

  let device = start();
  const output: string[] = [];
  /** The power comes back: the device boots again (its output so far kept for a report). */
  const powerOn = () => {
    output.push(...device.output, '--- power cut ---');
    device = start();
  };
  await device.line(BOOTED, BOOT_TIMEOUT_MS, signal);

  core.createJob(jobId, env.release.jobDocument(rolloutId), [thing]);
  const createdAt = performance.now();
  const kills: KillRecord[] = [];
  let runStartedAt = createdAt;
  let status = 'STUCK';
  for (;;) {
    const left = env.cycleTimeoutMs - (performance.now() - createdAt);
    const killing = kind === 'kill' && kills.length < env.maxKillsPerCycle;
    const waitMs = killing
      ? Math.min(left, runStartedAt + env.random() * killWindowMs - performance.now())
      : left;
    const ended = await jobEnded(core, thing, jobId, waitMs, signal);
    if (ended) {
      status = ended;
      break;
    }
    if (performance.now() - createdAt >= env.cycleTimeoutMs) break;
    // The power goes off; where the job was is what the state dir says then.
    const afterMs = performance.now() - runStartedAt;
    await device.powerCut();
    kills.push({ afterMs, ...(await stageOnDisk(stateDir, jobId)) });
    powerOn();
    runStartedAt = performance.now();
  }
  const updateMs = performance.now() - createdAt;

  // 4. One more power cut once the cloud has the outcome, then the boot that shows what runs.
  await device.powerCut();
  powerOn();
  const booted = await device.line(BOOTED, BOOT_TIMEOUT_MS, signal).catch((error: Error) => error);
  signal.throwIfAborted();
  const verdict = await checkCycle(env, { thing, jobId, stateDir, status, booted });
  output.push(...device.output);
  await device.stop();
  env.domains.delete(powerDomain);
  const failed = verdict.problems.length > 0;
  if (!failed) await rm(deviceDir, { recursive: true, force: true });
  return {
    index,
    kind,
    thing,
    jobId,
    kills,
    status,
    updateMs,
    ...verdict,
    ...(failed ? { deviceDir, output: output.slice(-80) } : {}),
  };
}

/** The job's terminal status once it has one, or undefined after `timeoutMs`. */
async function jobEnded(
  core: InMemoryIotCore,
  thing: string,
  jobId: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  const status = () => {
    const s = core.execution(thing, jobId)?.status;
    return s && TERMINAL.has(s) ? s : undefined;
  };
  const deadline = performance.now() + timeoutMs;
  // In slices: the core's waitFor cannot be cancelled, and an abort must not wait for it.
  for (;;) {
    signal.throwIfAborted();
    const left = deadline - performance.now();
    if (left <= 0) return status();
    const ended = await core.waitFor(status, Math.min(left, 200)).catch(() => undefined);
    if (ended) return ended;
  }
}

async function writeDeviceConfig(env: CycleEnvironment, thing: string, deviceDir: string, stateDir: string) {
  const identity = await env.ca.issueDevice(thing);
  const config = {
    deviceId: thing,
    hardwareType: HARDWARE_TYPE,
    factoryVersion: FACTORY_VERSION,
    identity: {
      certificate: identity.files.certificate,
      privateKey: identity.files.privateKey,
      ca: env.ca.certificateFile,
      trustRoot: env.trustRoot,
    },
    mqtt: { host: env.broker.host, port: env.broker.port },
    stateDir,
    downloads: { allowPlainHttp: true },
    log: { level: 'info', priorityPrefix: false },
    ...env.release.deviceConfig(deviceDir),
  };
  const file = join(deviceDir, 'agent.json');
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/** Where the job was when the power went, from the state dir (read as plain JSON: its schema moves). */
async function stageOnDisk(stateDir: string, jobId: string): Promise<Omit<KillRecord, 'afterMs'>> {
  const boot = (await readJson(join(stateDir, 'boot.json'))) as
    | { pending?: string | null; trialBoots?: number }
    | undefined;
  const trial = boot?.pending ? { trialBoots: boot.trialBoots ?? 0 } : {};
  const job = (await readJson(join(stateDir, 'job.json'))) as
    | { jobId?: string; phase?: string; outcome?: unknown }
    | undefined;
  if (job?.jobId === jobId) return { stage: job.outcome ? 'reporting' : String(job.phase), ...trial };
  const finished = await readJson(join(stateDir, 'finished-jobs.json'));
  if (Array.isArray(finished) && finished.some((j) => j?.jobId === jobId))
    return { stage: 'reporting', ...trial };
  return { stage: 'starting', ...trial };
}

interface CycleFacts {
  readonly thing: string;
  readonly jobId: string;
  readonly stateDir: string;
  readonly status: string;
  readonly booted: RegExpExecArray | Error;
}

/** Step 4's checks. */
async function checkCycle(
  env: CycleEnvironment,
  facts: CycleFacts,
): Promise<Pick<CycleResult, 'running' | 'eventsLost' | 'bricked' | 'problems'>> {
  const { core, release } = env;
  const { thing, jobId, stateDir, status, booted } = facts;
  const problems: string[] = [];

  // Bricked: no boot, or a boot that is neither the old nor the new version, or that lies.
  const installed = await release.installed(stateDir);
  const brickedProblems = [...installed.problems];
  if (booted instanceof Error) brickedProblems.push(`no boot after the update: ${booted.message}`);
  else {
    const [, version, slot] = booted;
    if (version !== installed.version || slot !== installed.slot)
      brickedProblems.push(
        `booted ${version} (slot ${slot}) but the state dir says ${installed.version} (slot ${installed.slot})`,
      );
    const reported = core.reportedState(thing)?.firmwareVersion;
    if (reported !== version)
      brickedProblems.push(`the shadow says ${String(reported)}, the device runs ${version}`);
  }
  problems.push(...brickedProblems);

  // The job's end and what runs agree: SUCCEEDED runs everything new, FAILED everything old.
  const expected = status === 'SUCCEEDED' ? 'new' : status === 'FAILED' ? 'old' : undefined;
  if (!expected) problems.push(`the job ended ${status}`);
  else if (installed.running !== expected)
    problems.push(`the job ended ${status} but the device runs ${installed.running} software`);

  // No event lost: every seq the device made for the job reached the cloud, once per eventId.
  const finished = (await readJson(join(stateDir, 'finished-jobs.json'))) as
    | { jobId?: string; lastSeq?: number; status?: string }[]
    | undefined;
  const mine = finished?.find((j) => j.jobId === jobId);
  const events = core.otaEvents(thing).filter((e) => e.jobId === jobId);
  const idsBySeq = new Map<number, Set<string>>();
  for (const event of events)
    idsBySeq.set(event.seq, (idsBySeq.get(event.seq) ?? new Set()).add(event.eventId));
  let eventsLost = 0;
  const lastSeq = mine?.lastSeq;
  if (typeof lastSeq !== 'number') problems.push('the device has no record of finishing the job');
  else {
    const missing: number[] = [];
    for (let seq = 0; seq <= lastSeq; seq++) if (!idsBySeq.has(seq)) missing.push(seq);
    eventsLost = missing.length;
    if (missing.length > 0) problems.push(`events lost: seq ${missing.join(', ')} of 0..${lastSeq}`);
    const beyond = [...idsBySeq.keys()].filter((seq) => seq > lastSeq);
    if (beyond.length > 0) problems.push(`events beyond the last seq ${lastSeq}: ${beyond.join(', ')}`);
    if (mine?.status !== status)
      problems.push(`the device finished the job ${mine?.status}, the cloud has ${status}`);
  }
  for (const [seq, ids] of idsBySeq)
    if (ids.size > 1) problems.push(`seq ${seq} came with ${ids.size} different eventIds`);
  const last = events.reduce<(typeof events)[number] | undefined>(
    (a, e) => (!a || e.seq > a.seq ? e : a),
    undefined,
  );
  const lastStages: Record<string, string[]> = { SUCCEEDED: ['healthy'], FAILED: ['rolled-back', 'failed'] };
  if (last && !lastStages[status]?.includes(last.stage))
    problems.push(`the last event is ${last.stage} (seq ${last.seq}) for a job that ended ${status}`);

  const running = booted instanceof Error ? 'none' : installed.running;
  return { running, eventsLost, bricked: brickedProblems.length > 0, problems };
}

/** A release as the harness installs it: its job document and how to read what a device runs. */
export interface PublishedRelease {
  readonly kind: DocumentKind;
  jobDocument(rolloutId: string): unknown;
  /** Extra device config fields (e.g. update modules), given the device's own directory. */
  deviceConfig(deviceDir: string): Record<string, unknown>;
  /** Puts what the device runs outside its state dir back to the factory state (a fresh device). */
  factoryReset(): Promise<void>;
  /** What the state dir says the device runs; problems when that is not all old or all new. */
  installed(stateDir: string): Promise<InstalledVersion>;
}

export interface InstalledVersion {
  readonly running: 'old' | 'new' | 'mixed';
  readonly version: string;
  readonly slot: string;
  readonly problems: readonly string[];
}

async function publishRelease(
  kind: DocumentKind,
  repo: LocalReleaseRepository,
  artifacts: LocalArtifactServer,
  options: KillHarnessOptions,
  work: string,
): Promise<PublishedRelease> {
  const release = { releaseId: 'rel-2', version: '2.0.0' };
  const healthCheckSeconds = options.healthCheckSeconds ?? 1;
  const bytes = pseudoRandomBytes(options.imageBytes ?? 1024 * 1024, 1);
  const linkBytesPerSecond = options.linkBytesPerSecond ?? 1024 * 1024;
  if (kind === 'v3')
    return publishComponents(repo, artifacts, {
      release,
      bytes,
      healthCheckSeconds,
      linkBytesPerSecond,
      work,
    });
  const image = await repo.addImage(release, HARDWARE_TYPE, bytes);
  throttle(artifacts, `targets/${image.target}`, linkBytesPerSecond);
  return {
    kind,
    jobDocument: (rolloutId) =>
      repo.jobDocument({
        rolloutId,
        operation: 'install',
        release,
        artifacts: [{ hardwareType: HARDWARE_TYPE, target: image.target, url: image.url }],
        healthCheckSeconds,
      }),
    deviceConfig: () => ({}),
    factoryReset: async () => {},
    installed: (stateDir) => installedOnSlots(stateDir, { version: release.version, sha256: image.sha256 }),
  };
}

/**
 * A multi-component release (v3), all or nothing: the root file system on the A/B slots, an app
 * (one file, handler `single-file`) and a model (a version directory and a `current` link,
 * handler `ml-model`), in that order. The app and the model live under `<work>/device-root/`,
 * which holds their 1.0.0 versions before each cycle (the factory state), as the signed settings
 * name one place for every device.
 */
async function publishComponents(
  repo: LocalReleaseRepository,
  artifacts: LocalArtifactServer,
  input: {
    release: { releaseId: string; version: string };
    bytes: Buffer;
    healthCheckSeconds: number;
    linkBytesPerSecond: number;
    work: string;
  },
): Promise<PublishedRelease> {
  const { release, healthCheckSeconds } = input;
  const root = join(input.work, 'device-root');
  const appFile = join(root, 'opt/app/app.bin');
  const modelDir = join(root, 'var/lib/models/detector');
  const app = { old: pseudoRandomBytes(64 * 1024, 2), new: pseudoRandomBytes(64 * 1024, 3) };
  const model = { old: pseudoRandomBytes(64 * 1024, 4), new: pseudoRandomBytes(64 * 1024, 5) };
  const version = release.version;
  const rootfs = await repo.addComponent(
    release,
    HARDWARE_TYPE,
    { name: 'rootfs', handler: 'rootfs', order: 0, version },
    input.bytes,
  );
  const appImage = await repo.addComponent(
    release,
    HARDWARE_TYPE,
    { name: 'app', handler: 'single-file', order: 1, version, settings: { target: appFile } },
    app.new,
  );
  const modelImage = await repo.addComponent(
    release,
    HARDWARE_TYPE,
    {
      name: 'model',
      handler: 'ml-model',
      order: 2,
      version,
      settings: { target: modelDir, 'payload-name': 'model.bin' },
    },
    model.new,
  );
  throttle(artifacts, `targets/${rootfs.target}`, input.linkBytesPerSecond);
  const offer = (name: string, image: { target: string; url: string }) => ({
    name,
    target: image.target,
    url: image.url,
  });
  return {
    kind: 'v3',
    jobDocument: (rolloutId) =>
      repo.jobDocumentV3({
        rolloutId,
        operation: 'install',
        release,
        artifacts: [
          {
            hardwareType: HARDWARE_TYPE,
            components: [offer('rootfs', rootfs), offer('app', appImage), offer('model', modelImage)],
          },
        ],
        healthCheckSeconds,
      }),
    deviceConfig: () => ({ updateModules: { dir: join(REPO_ROOT, 'device/update-modules/handlers') } }),
    factoryReset: async () => {
      await rm(root, { recursive: true, force: true });
      await mkdir(dirname(appFile), { recursive: true });
      await writeFile(appFile, app.old);
      await mkdir(join(modelDir, FACTORY_VERSION), { recursive: true });
      await writeFile(join(modelDir, FACTORY_VERSION, 'model.bin'), model.old);
      await symlink(FACTORY_VERSION, join(modelDir, 'current'));
    },
    installed: async (stateDir) => {
      const slots = await installedOnSlots(stateDir, { version, sha256: rootfs.sha256 });
      const problems = [...slots.problems];
      const appBytes = await readFile(appFile).catch(() => undefined);
      const appRuns = !appBytes
        ? 'none'
        : appBytes.equals(app.new)
          ? 'new'
          : appBytes.equals(app.old)
            ? 'old'
            : 'mixed';
      const current = await readlink(join(modelDir, 'current')).catch(() => undefined);
      const modelBytes =
        current && (await readFile(join(modelDir, current, 'model.bin')).catch(() => undefined));
      const modelRuns =
        current === version && modelBytes && modelBytes.equals(model.new)
          ? 'new'
          : current === FACTORY_VERSION && modelBytes && modelBytes.equals(model.old)
            ? 'old'
            : 'mixed';
      const parts = { rootfs: slots.running, app: appRuns, model: modelRuns };
      const kinds = new Set(Object.values(parts));
      const running = kinds.size === 1 && (kinds.has('old') || kinds.has('new')) ? slots.running : 'mixed';
      if (running === 'mixed')
        problems.push(
          `components disagree: ${Object.entries(parts)
            .map(([name, runs]) => `${name} ${runs}`)
            .join(', ')} (model current -> ${String(current)})`,
        );
      return { ...slots, running, problems };
    },
  };
}

/** The A/B slots: the active one's version and image, checked against its metadata. */
async function installedOnSlots(
  stateDir: string,
  next: { version: string; sha256: string },
): Promise<InstalledVersion> {
  const problems: string[] = [];
  const boot = (await readJson(join(stateDir, 'boot.json'))) as
    | { active?: string; pending?: string | null }
    | undefined;
  const slot = boot?.active ?? '?';
  if (!boot) problems.push('boot.json is missing or unreadable');
  else if (boot.pending) problems.push(`slot ${boot.pending} is still pending after the job ended`);
  const meta = (await readJson(join(stateDir, 'slots', slot, 'meta.json'))) as
    | { version?: string; sha256?: string }
    | undefined;
  const version = meta?.version ?? '?';
  if (!meta) problems.push(`slot ${slot} has no metadata`);
  const image = await readFile(join(stateDir, 'slots', slot, 'image.bin')).catch(() => undefined);
  const sha256 = image && createHash('sha256').update(image).digest('hex');
  if (!image) problems.push(`slot ${slot} has no image`);
  else if (meta?.sha256 && sha256 !== meta.sha256)
    problems.push(`slot ${slot}'s image is not the one its metadata names`);
  const running =
    version === next.version && sha256 === next.sha256
      ? 'new'
      : version === FACTORY_VERSION && sha256 !== next.sha256
        ? 'old'
        : 'mixed';
  if (running === 'mixed')
    problems.push(`slot ${slot} holds version ${version} with image ${sha256?.slice(0, 12)}`);
  return { running, version, slot, problems };
}

/** The image arrives at `bytesPerSecond` (a slow link: downloads long enough to be cut). */
function throttle(artifacts: LocalArtifactServer, path: string, bytesPerSecond: number): void {
  const everyMs = 10;
  artifacts.injectFault(
    { kind: 'trickle', bytes: Math.max(1, Math.round((bytesPerSecond * everyMs) / 1000)), everyMs },
    { path },
  );
}

/** How to run the daemon: the shipped bundle (built into `work`), or the source through tsx. */
async function daemonCommand(daemon: 'bundle' | 'source', work: string): Promise<[string, ...string[]]> {
  if (daemon === 'source')
    return [process.execPath, '--import', 'tsx', join(REPO_ROOT, 'device/daemon/main.ts')];
  const bundle = join(work, 'edgeops-agent.mjs');
  await bundleAgent(bundle);
  return [process.execPath, bundle];
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A small seeded PRNG (mulberry32): uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

const ms = (value: number) => `${Math.round(value)} ms`;

function pseudoRandomBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  const random = mulberry32(seed);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}
