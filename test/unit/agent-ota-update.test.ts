import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OtaEventV1 } from '../../contract/ota';
import { createDelta } from '../../contract/zstd-delta';
import { DeviceAgent, type DeviceAgentOtaOptions } from '../../device/device-agent';
import { type HealthCheck, imageMatchesMetadata } from '../../device/ota/health-check';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import { Metadata, serialize, signMetadata, type Timestamp } from '../../functions/domain/tuf-metadata';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';
import { sha256 } from '../support/bytes';

const THING = 'dev-0001';
const JOB = 'r1-w0';
const IMAGE = pseudoRandomBytes(96 * 1024);
const RELEASE = { releaseId: 'rel-2', version: '2.0.0' };
/** Where the local repository serves the signed image (LocalReleaseRepository). */
const IMAGE_PATH = 'targets/rel-2/rpi4/image';

function pseudoRandomBytes(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = 0x2545f491;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

let core: InMemoryIotCore;
let server: LocalArtifactServer;
let repo: LocalReleaseRepository;
let image: { target: string; url: string };
let stateDir: string;
const agents: DeviceAgent[] = [];

beforeEach(async () => {
  core = new InMemoryIotCore();
  server = await startLocalArtifactServer();
  repo = await LocalReleaseRepository.create(server);
  image = await repo.addImage(RELEASE, 'rpi4', IMAGE);
  stateDir = await mkdtemp(join(tmpdir(), 'edgeops-agent-'));
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  await server.close();
  await rm(stateDir, { recursive: true, force: true });
});

function jobDocument(overrides: Record<string, unknown> = {}) {
  return {
    ...repo.jobDocument({
      rolloutId: 'r1',
      operation: 'install',
      release: RELEASE,
      artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
      healthCheckSeconds: 5,
    }),
    ...overrides,
  };
}

/** The job, offering a signed delta from `base` to the image. */
const jobWithDelta = (base: Uint8Array, delta: { target: string; url: string }) =>
  jobDocument({
    artifacts: [
      {
        hardwareType: 'rpi4',
        target: image.target,
        url: image.url,
        deltas: [{ baseSha256: sha256(base), target: delta.target, url: delta.url }],
      },
    ],
  });

/** Requests for image bytes (the rest fetch signed metadata). */
const imageRequests = () => server.requests.filter((r) => r.path.startsWith('targets/'));

function newAgent(ota: Partial<DeviceAgentOtaOptions> = {}) {
  const agent = new DeviceAgent({
    identity: { deviceId: THING },
    connector: core.connector(THING),
    firmwareVersion: '1.0.0',
    requestTimeoutMs: 2_000,
    ota: {
      stateDir,
      hardwareType: 'rpi4',
      allowPlainHttp: true,
      timeFactor: 0.001,
      fsync: false,
      trustRoot: repo.root,
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

async function until(check: () => Promise<boolean>, timeoutMs = 3_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sizeOf = (path: string) =>
  stat(path).then(
    (s) => s.size,
    () => 0,
  );

/** Waits for the job's terminal status and for the agent to finish delivering what it queued. */
async function finished(agent: DeviceAgent, jobId = JOB) {
  const execution = await core.waitFor(() => {
    const e = core.execution(THING, jobId);
    return e && TERMINAL.includes(e.status) ? e : undefined;
  });
  await agent.whenIdle();
  return execution;
}

const bootState = async () => JSON.parse(await readFile(join(stateDir, 'boot.json'), 'utf8'));
const stages = () => core.otaEvents(THING).map((e) => e.stage);
const updates = (jobId = JOB) =>
  core
    .acceptedUpdates(THING, jobId)
    .map((u) => [u.status, (u.statusDetails as Record<string, string>).stage]);

describe('DeviceAgent OTA: a healthy update', () => {
  it('moves from slot A to slot B and publishes every stage, in order, with increasing seq', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);

    expect(core.otaEvents(THING).map((e) => [e.stage, e.runningVersion, e.slot, e.seq])).toEqual([
      ['downloading', '1.0.0', 'A', 0],
      ['installing', '1.0.0', 'A', 1],
      ['rebooting', '1.0.0', 'A', 2],
      ['healthy', '2.0.0', 'B', 3],
    ]);
  });

  it('sets the stage in the job execution at each step and ends SUCCEEDED', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);

    expect(updates()).toEqual([
      ['IN_PROGRESS', 'downloading'],
      ['IN_PROGRESS', 'installing'],
      ['IN_PROGRESS', 'rebooting'],
      ['SUCCEEDED', 'healthy'],
    ]);
  });

  it('commits slot B, runs 2.0.0 and reports it through the shadow', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);

    expect(await bootState()).toEqual({ active: 'B', pending: null, trialBoots: 0 });
    expect(sha256(await readFile(join(stateDir, 'slots/B/image.bin')))).toBe(sha256(IMAGE));
    expect(agent.firmwareVersion).toBe('2.0.0');
    expect(core.reportedState(THING)?.firmwareVersion).toBe('2.0.0');
  });

  it('publishes its events with QoS 1', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);

    const qos = core.deviceMessages
      .filter((m) => m.topic === `edgeops/devices/${THING}/ota`)
      .map((m) => m.qos);
    expect(qos).toEqual([1, 1, 1, 1]);
  });

  it('picks up a job queued while it was off, at start-up', async () => {
    core.createJob(JOB, jobDocument(), [THING]);

    const agent = await startedAgent();

    expect((await finished(agent)).status).toBe('SUCCEEDED');
  });

  it('does not start the same job twice when notify-next repeats', async () => {
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    core.repeatNotifyNext(THING);
    core.repeatNotifyNext(THING);
    await finished(agent);

    expect(imageRequests()).toHaveLength(1);
    expect(stages().filter((s) => s === 'downloading')).toHaveLength(1);
    expect(updates().filter(([, stage]) => stage === 'downloading')).toHaveLength(1);
  });

  it('resumes with a Range request when the server drops the connection mid-body', async () => {
    server.cutNextResponses(1, 40_000);
    const agent = await startedAgent();

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(imageRequests().map((r) => r.range)).toEqual([
      undefined,
      expect.stringMatching(/^bytes=[1-9]\d*-$/),
    ]);
    expect(imageRequests()[1]?.status).toBe(206);
    expect(sha256(await readFile(join(stateDir, 'slots/B/image.bin')))).toBe(sha256(IMAGE));
  });

  it('continues a download from its partial file after the agent restarts', async () => {
    const stalled = newAgent({
      // Delivers 30 000 bytes, then the link hangs until the agent stops.
      link: async function* (body, { signal }) {
        let passed = 0;
        for await (const chunk of body) {
          const part = chunk.subarray(0, Math.max(0, 30_000 - passed));
          passed += part.length;
          if (part.length > 0) yield part;
          if (passed >= 30_000) {
            await new Promise((_, reject) => signal?.addEventListener('abort', reject, { once: true }));
          }
        }
      },
    });
    await stalled.start();
    core.createJob(JOB, jobDocument(), [THING]);
    await until(async () => (await sizeOf(join(stateDir, 'downloads', `${sha256(IMAGE)}.part`))) === 30_000);
    await stalled.stop();

    const restarted = await startedAgent();
    const execution = await finished(restarted);

    expect(execution.status).toBe('SUCCEEDED');
    expect(imageRequests().map((r) => r.range)).toEqual([undefined, 'bytes=30000-']);
  });
});

describe('DeviceAgent OTA: refusals and failures keep the device on its working slot', () => {
  it('fails the job with sha256-mismatch and stays on slot A when a served byte differs from the signed image', async () => {
    const agent = await startedAgent();
    const tampered = Buffer.from(IMAGE);
    tampered[1234] = (tampered[1234] ?? 0) ^ 0xff;
    server.put(IMAGE_PATH, tampered);

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toEqual({
      stage: 'failed',
      reason: 'sha256-mismatch',
      runningVersion: '1.0.0',
    });
    expect(core.otaEvents(THING).at(-1)).toMatchObject({
      stage: 'failed',
      reason: 'sha256-mismatch',
      slot: 'A',
    });
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect(agent.firmwareVersion).toBe('1.0.0');
  });

  it('fails the job with size-mismatch when the server sends more bytes than the signed length', async () => {
    const agent = await startedAgent();
    server.put(IMAGE_PATH, Buffer.concat([IMAGE, Buffer.from('more than was signed')]));

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.statusDetails.reason).toBe('size-mismatch');
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
  });

  it('rejects metadata signed by a key the root does not trust, before downloading anything', async () => {
    const agent = await startedAgent();
    const current = Metadata.fromJSON(
      'timestamp' as never,
      JSON.parse(repo.metadataFile('timestamp.json')?.toString()) as never,
    );
    const forged = await signMetadata(current.signed as unknown as Timestamp, [
      LocalKeySigner.generate('ecdsa'),
    ]);
    repo.putMetadataFile('timestamp.json', serialize(forged));

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(/^signature-invalid/);
    expect(imageRequests()).toHaveLength(0);
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
  });

  it('rejects an older version than it runs', async () => {
    const old = await repo.addImage({ releaseId: 'rel-0.9', version: '0.9.0' }, 'rpi4', IMAGE.subarray(1));
    const agent = await startedAgent();

    core.createJob(
      JOB,
      jobDocument({
        release: { releaseId: 'rel-0.9', version: '0.9.0' },
        artifacts: [{ hardwareType: 'rpi4', target: old.target, url: old.url }],
      }),
      [THING],
    );
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toBe('downgrade-refused: 0.9.0 is older than the running 1.0.0');
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
  });

  it('rejects a job without a trust root', async () => {
    const agent = await startedAgent({ trustRoot: undefined });

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(/^no-trust-root/);
  });

  it('rejects a job with no artifact for its hardware type, without downloading anything', async () => {
    const agent = await startedAgent();
    const document = jobDocument();
    document.artifacts = [{ ...document.artifacts[0], hardwareType: 'jetson-nano' } as never];

    core.createJob(JOB, document, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(/^hardware-type-mismatch: /);
    expect(core.otaEvents(THING)).toEqual([
      expect.objectContaining({ stage: 'failed', reason: expect.stringMatching(/^hardware-type-mismatch/) }),
    ]);
    expect(server.requests).toHaveLength(0);
  });

  it('rejects a malformed job document with the reason, and publishes a failed event', async () => {
    const agent = await startedAgent();
    const { artifacts: _, ...withoutArtifacts } = jobDocument();

    core.createJob(JOB, withoutArtifacts, [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toMatch(/^invalid-job-document: artifacts: /);
    expect(core.otaEvents(THING)).toEqual([
      expect.objectContaining({
        stage: 'failed',
        rolloutId: 'r1',
        runningVersion: '1.0.0',
        slot: 'A',
        reason: expect.stringMatching(/^invalid-job-document: /),
      }),
    ]);
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
  });

  it('rejects a plain-http artifact URL unless allowed', async () => {
    const agent = await startedAgent({ allowPlainHttp: false });

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('REJECTED');
    expect(execution.statusDetails.reason).toBe('invalid-job-document: https required for every URL');
  });
});

describe('DeviceAgent OTA: a retried job', () => {
  it('runs a new execution of a job it failed, continuing the seq after the first one', async () => {
    server.put(IMAGE_PATH, Buffer.from('not the signed image'));
    const agent = await startedAgent();
    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);
    const firstRun = core.otaEvents(THING).length;

    server.put(IMAGE_PATH, IMAGE);
    core.retryExecution(THING, JOB);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(core.otaEvents(THING).map((e) => [e.stage, e.reason, e.seq])).toEqual([
      ['downloading', undefined, 0],
      ['failed', 'size-mismatch', 1],
      ['downloading', undefined, 2],
      ['installing', undefined, 3],
      ['rebooting', undefined, 4],
      ['healthy', undefined, 5],
    ]);
    expect(firstRun).toBe(2);
  });
});

describe('DeviceAgent OTA: rollback', () => {
  const unhealthy: HealthCheck = async () => ({ healthy: false, detail: 'service did not come up' });

  it('reverts to slot A and fails the job with health-check-failed when the new version is unhealthy', async () => {
    const agent = await startedAgent({ healthCheck: unhealthy });

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({ stage: 'rolled-back', reason: 'health-check-failed' });
    expect(core.otaEvents(THING).at(-1)).toMatchObject({
      stage: 'rolled-back',
      reason: 'health-check-failed',
      runningVersion: '1.0.0',
      slot: 'A',
    });
  });

  it('runs and reports the old version again after an unhealthy trial', async () => {
    const agent = await startedAgent({ healthCheck: unhealthy });

    core.createJob(JOB, jobDocument(), [THING]);
    await finished(agent);

    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect(agent.firmwareVersion).toBe('1.0.0');
    expect(core.reportedState(THING)?.firmwareVersion).toBe('1.0.0');
  });

  it('with one trial boot, reverts on the next start when the agent died during its trial, continuing the seq', async () => {
    let trialStarted: () => void = () => {};
    const inTrial = new Promise<void>((resolve) => {
      trialStarted = resolve;
    });
    const dying = newAgent({
      maxTrialBoots: 1,
      healthCheck: (trial) => {
        trialStarted();
        return new Promise((_, reject) => trial.signal.addEventListener('abort', reject, { once: true }));
      },
    });
    await dying.start();
    core.createJob(JOB, jobDocument(), [THING]);
    await inTrial;
    await dying.crash();
    expect(await bootState()).toEqual({ active: 'A', pending: 'B', trialBoots: 1 });

    const restarted = await startedAgent({ maxTrialBoots: 1, healthCheck: imageMatchesMetadata });
    const execution = await finished(restarted);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'rolled-back',
      reason: 'crash-before-confirm',
      detail: '1 trial boot without a confirmation',
    });
    expect(core.otaEvents(THING).at(-1)).toMatchObject({
      stage: 'rolled-back',
      reason: 'crash-before-confirm',
      runningVersion: '1.0.0',
      slot: 'A',
      seq: 3,
    });
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect(restarted.firmwareVersion).toBe('1.0.0');
  });
});

describe('DeviceAgent OTA: power cuts during the trial boot', () => {
  /** Starts the device and cuts its power once its health check runs (the trial boot is under way). */
  async function powerCutDuringTrial(ota: Partial<DeviceAgentOtaOptions> = {}) {
    let trialStarted: () => void = () => {};
    const inTrial = new Promise<void>((resolve) => {
      trialStarted = resolve;
    });
    const agent = newAgent({
      ...ota,
      healthCheck: (trial) => {
        trialStarted();
        return new Promise((_, reject) => trial.signal.addEventListener('abort', reject, { once: true }));
      },
    });
    await agent.start();
    await inTrial;
    await agent.crash();
    await agent.whenIdle();
  }

  it('boots a good update again after power cuts in trial boots 1 and 2, and commits it on boot 3', async () => {
    core.createJob(JOB, jobDocument(), [THING]);

    await powerCutDuringTrial();
    expect(await bootState()).toEqual({ active: 'A', pending: 'B', trialBoots: 1 });
    await powerCutDuringTrial();
    expect(await bootState()).toEqual({ active: 'A', pending: 'B', trialBoots: 2 });
    const third = await startedAgent();
    const execution = await finished(third);

    expect(execution.status).toBe('SUCCEEDED');
    expect(await bootState()).toEqual({ active: 'B', pending: null, trialBoots: 0 });
    expect(third.firmwareVersion).toBe('2.0.0');
    expect(core.reportedState(THING)?.firmwareVersion).toBe('2.0.0');
    expect(core.otaEvents(THING).map((e) => [e.stage, e.seq, e.runningVersion])).toEqual([
      ['downloading', 0, '1.0.0'],
      ['installing', 1, '1.0.0'],
      ['rebooting', 2, '1.0.0'],
      ['healthy', 3, '2.0.0'],
    ]);
  });

  it('reverts an update that takes the device down in each of its 3 trial boots, saying why', async () => {
    core.createJob(JOB, jobDocument(), [THING]);

    for (let boot = 1; boot <= 3; boot++) {
      await powerCutDuringTrial();
      expect(await bootState()).toEqual({ active: 'A', pending: 'B', trialBoots: boot });
      expect(core.execution(THING, JOB)?.status).toBe('IN_PROGRESS');
    }
    const restarted = await startedAgent();
    const execution = await finished(restarted);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toEqual({
      stage: 'rolled-back',
      reason: 'crash-before-confirm',
      detail: '3 trial boots without a confirmation',
      runningVersion: '1.0.0',
    });
    expect(core.otaEvents(THING).map((e) => [e.stage, e.seq, e.reason])).toEqual([
      ['downloading', 0, undefined],
      ['installing', 1, undefined],
      ['rebooting', 2, undefined],
      ['rolled-back', 3, 'crash-before-confirm'],
    ]);
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    expect(restarted.firmwareVersion).toBe('1.0.0');
  });

  it('takes maxTrialBoots from 1 to 10 only', () => {
    for (const maxTrialBoots of [0, 11, 1.5])
      expect(() => newAgent({ maxTrialBoots })).toThrow(/maxTrialBoots must be an integer from 1 to 10/);
    expect(() => newAgent({ maxTrialBoots: 10 })).not.toThrow();
  });
});

describe('DeviceAgent OTA: a power cut at every write point', () => {
  /**
   * Runs the job on a fresh device whose power goes at its `cutAt`-th write of OTA state (that
   * write does not land, nothing after it runs), then starts the device again and lets it finish.
   * `cut` is the file of the write it cut, undefined when the update made fewer writes than that.
   */
  async function updateWithPowerCut(cutAt: number, document: unknown) {
    core = new InMemoryIotCore();
    await rm(stateDir, { recursive: true, force: true });
    stateDir = await mkdtemp(join(tmpdir(), 'edgeops-agent-'));
    core.createJob(JOB, document, [THING]);
    let writes = 0;
    let cut: string | undefined;
    let crashing: Promise<void> | undefined;
    const agent = newAgent({
      beforeWrite: (path) => {
        if (++writes !== cutAt) return;
        cut = relative(stateDir, path);
        crashing = agent.crash();
        throw new Error('power cut');
      },
    });
    await agent.start().catch(() => {});
    await until(
      async () => cut !== undefined || TERMINAL.includes(core.execution(THING, JOB)?.status ?? ''),
      10_000,
    );
    await crashing;
    await agent.whenIdle();
    if (cut === undefined) return { cut, writes, agent };
    const restarted = await startedAgent();
    await finished(restarted);
    return { cut, writes, agent: restarted };
  }

  /** The job's events as the cloud applies them: the first of each eventId, in arrival order. */
  function appliedEvents() {
    const seen = new Map<string, OtaEventV1>();
    for (const event of core.otaEvents(THING)) {
      const first = seen.get(event.eventId);
      // A repeat is the same event: same seq and stage.
      if (first) expect([event.seq, event.stage]).toEqual([first.seq, first.stage]);
      else seen.set(event.eventId, event);
    }
    return [...seen.values()];
  }

  const collapse = (stages: string[]) => stages.filter((stage, i) => stage !== stages[i - 1]);

  /** Cuts at write 1, 2, ... until an update runs through without reaching the cut. */
  async function cutEverywhere(document: unknown, check: (cut: string) => Promise<void>) {
    const cuts: string[] = [];
    for (let cutAt = 1; ; cutAt++) {
      const { cut } = await updateWithPowerCut(cutAt, document);
      if (cut === undefined) break;
      cuts.push(cut);
      await check(cut);
    }
    return cuts;
  }

  it('loses no stage of a healthy update and ends on the new version, wherever the power goes', async () => {
    const cuts = await cutEverywhere(jobDocument(), async (cut) => {
      const events = appliedEvents();
      const context = `power cut at ${cut}`;
      // Every seq once, in order, none missing: no event was lost, none applied twice.
      expect(
        events.map((e) => e.seq),
        context,
      ).toEqual(events.map((_, i) => i));
      expect(collapse(events.map((e) => e.stage)), context).toEqual([
        'downloading',
        'installing',
        'rebooting',
        'healthy',
      ]);
      expect(collapse(updates().map(([status, stage]) => `${status} ${stage}`)), context).toEqual([
        'IN_PROGRESS downloading',
        'IN_PROGRESS installing',
        'IN_PROGRESS rebooting',
        'SUCCEEDED healthy',
      ]);
      expect(core.execution(THING, JOB)?.status, context).toBe('SUCCEEDED');
      expect(await bootState(), context).toEqual({ active: 'B', pending: null, trialBoots: 0 });
      expect(core.reportedState(THING)?.firmwareVersion, context).toBe('2.0.0');
      const outbox = JSON.parse(await readFile(join(stateDir, 'outbox.json'), 'utf8'));
      expect(outbox, context).toEqual([]);
    });

    // Every kind of write an update makes was cut at least once (25 write points when written).
    expect([...new Set(cuts)]).toEqual(
      expect.arrayContaining([
        'boot.json',
        'slots/A/meta.json',
        'slots/B/meta.json',
        'slots/B/image.bin',
        'job.json',
        'outbox.json',
        'finished-jobs.json',
      ]),
    );
    expect(cuts.length).toBeGreaterThanOrEqual(20);
  }, 120_000);

  it('loses no refusal either: one failed event and REJECTED, wherever the power goes', async () => {
    const document = jobDocument();
    document.artifacts = [{ ...document.artifacts[0], hardwareType: 'jetson-nano' } as never];

    const cuts = await cutEverywhere(document, async (cut) => {
      const context = `power cut at ${cut}`;
      expect(
        appliedEvents().map((e) => [e.stage, e.seq]),
        context,
      ).toEqual([['failed', 0]]);
      expect(updates(), context).toEqual([['REJECTED', 'failed']]);
      expect(await bootState(), context).toEqual({ active: 'A', pending: null, trialBoots: 0 });
    });

    expect([...new Set(cuts)]).toEqual(expect.arrayContaining(['outbox.json', 'finished-jobs.json']));
  }, 60_000);
});

describe('DeviceAgent OTA: store-and-forward', () => {
  it('delivers what it queued while offline after reconnecting, in order', async () => {
    const agent = await startedAgent({
      onEvent: (event) => {
        if (event.stage === 'downloading') core.setReachable(THING, false);
      },
    });

    core.createJob(JOB, jobDocument(), [THING]);
    await core.waitFor(() => (core.isOnline(THING) ? undefined : true));
    await agent.whenIdle();
    const whileOffline = core.otaEvents(THING).length;
    core.setReachable(THING, true);
    const execution = await finished(agent);

    expect(whileOffline).toBe(0);
    expect(execution.status).toBe('SUCCEEDED');
    expect(core.otaEvents(THING).map((e) => [e.stage, e.seq])).toEqual([
      ['downloading', 0],
      ['installing', 1],
      ['rebooting', 2],
      ['healthy', 3],
    ]);
    expect(updates()).toEqual([
      ['IN_PROGRESS', 'downloading'],
      ['IN_PROGRESS', 'installing'],
      ['IN_PROGRESS', 'rebooting'],
      ['SUCCEEDED', 'healthy'],
    ]);
  });

  it('keeps undelivered events on disk across a restart and sends them when it is back', async () => {
    const first = await startedAgent({
      onEvent: (event) => {
        if (event.stage === 'downloading') core.setReachable(THING, false);
      },
    });
    core.createJob(JOB, jobDocument(), [THING]);
    await core.waitFor(() => (core.isOnline(THING) ? undefined : true));
    await first.whenIdle();
    await first.stop();
    const queued = JSON.parse(await readFile(join(stateDir, 'outbox.json'), 'utf8')) as unknown[];

    core.setReachable(THING, true);
    const second = await startedAgent();
    await finished(second);

    expect(queued).toHaveLength(8);
    expect(stages()).toEqual(['downloading', 'installing', 'rebooting', 'healthy']);
  });
});

describe('DeviceAgent OTA: state on disk', () => {
  it('refuses to start on a corrupt boot state rather than take it for a fresh device', async () => {
    await writeFile(join(stateDir, 'boot.json'), '{"active":"C"}');

    await expect(startedAgent()).rejects.toThrow(/Corrupt state file/);
  });
});

describe('DeviceAgent without OTA', () => {
  it('reports its firmware through the shadow on start, as before', async () => {
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.4.2',
    });
    agents.push(agent);

    await agent.start();

    expect(core.reportedState(THING)).toEqual({ firmwareVersion: '1.4.2' });
    expect(core.startNextRequests(THING)).toBe(0);
  });
});

describe('DeviceAgent OTA: deltas', () => {
  const BASE = pseudoRandomBytes(96 * 1024).map((b, i) => (i % 5000 === 0 ? b ^ 1 : b));

  it('rebuilds the image from a signed delta against its active slot and says how many bytes it fetched', async () => {
    const patch = await createDelta(Buffer.from(BASE), IMAGE);
    const delta = await repo.addDelta(RELEASE, 'rpi4', patch, BASE, IMAGE);
    const agent = await startedAgent({ factoryImage: BASE });

    core.createJob(JOB, jobWithDelta(BASE, delta), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(sha256(await readFile(join(stateDir, 'slots/B/image.bin')))).toBe(sha256(IMAGE));
    expect(imageRequests().map((r) => r.path)).toEqual([delta.target && `targets/${delta.target}`]);
    expect(core.otaEvents(THING).find((e) => e.stage === 'installing')).toMatchObject({
      bytesDownloaded: patch.length,
      transfer: { mode: 'delta', imageBytes: IMAGE.length },
    });
    expect(patch.length).toBeLessThan(IMAGE.length / 4);
  });

  it('falls back to the full image when the delta does not rebuild the signed image', async () => {
    const patch = await createDelta(Buffer.from(BASE), IMAGE);
    const delta = await repo.addDelta(RELEASE, 'rpi4', patch, BASE, IMAGE);
    server.put(`targets/${delta.target}`, await createDelta(Buffer.from(BASE), Buffer.from(BASE)));
    const agent = await startedAgent({ factoryImage: BASE });

    core.createJob(JOB, jobWithDelta(BASE, delta), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(sha256(await readFile(join(stateDir, 'slots/B/image.bin')))).toBe(sha256(IMAGE));
    expect(imageRequests().map((r) => r.path)).toEqual([`targets/${delta.target}`, IMAGE_PATH]);
    expect(core.otaEvents(THING).find((e) => e.stage === 'installing')).toMatchObject({
      bytesDownloaded: IMAGE.length,
      transfer: { mode: 'full', imageBytes: IMAGE.length },
    });
  });
});

describe('DeviceAgent OTA: bandwidth policy', () => {
  const policy = (fields: Record<string, unknown>) => ({
    onMetered: 'delta-only',
    timeZone: 'UTC',
    ...fields,
  });

  async function agentWithPolicy(
    fields: Record<string, unknown>,
    metered: boolean,
    ota: Partial<DeviceAgentOtaOptions> = {},
  ) {
    core.updateDesired(THING, { edgeops: { bandwidthPolicy: policy(fields) } });
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 2_000,
      metered,
      ota: {
        stateDir,
        hardwareType: 'rpi4',
        allowPlainHttp: true,
        timeFactor: 0.001,
        fsync: false,
        trustRoot: repo.root,
        ...ota,
      },
    });
    agents.push(agent);
    await agent.start();
    await core.waitFor(() => (agent.currentBandwidthPolicy() ? true : undefined), 2_000, 'the policy');
    return agent;
  }

  it('on a metered link with no delta, waits for an unmetered one, then downloads the full image', async () => {
    const agent = await agentWithPolicy({}, true);

    core.createJob(JOB, jobDocument(), [THING]);
    await until(async () => core.otaEvents(THING).some((e) => e.stage === 'downloading'));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(imageRequests()).toHaveLength(0);

    agent.setMetered(false);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(imageRequests()).toHaveLength(1);
  });

  it('fails the job when the image is larger than the byte cap, without downloading it', async () => {
    const agent = await agentWithPolicy({ maxBytesPerUpdate: 1024 }, false);

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails.reason).toBe(`byte-cap-exceeded: needs ${IMAGE.length} bytes, cap 1024`);
    expect(imageRequests()).toHaveLength(0);
    expect(await bootState()).toEqual({ active: 'A', pending: null, trialBoots: 0 });
  });

  it('on a metered link takes the delta when there is one', async () => {
    const BASE = IMAGE.map((b, i) => (i % 7000 === 0 ? b ^ 1 : b));
    const patch = await createDelta(Buffer.from(BASE), IMAGE);
    const delta = await repo.addDelta(RELEASE, 'rpi4', patch, BASE, IMAGE);
    const agent = await agentWithPolicy({}, true, { factoryImage: BASE });

    core.createJob(JOB, jobWithDelta(BASE, delta), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(imageRequests().map((r) => r.path)).toEqual([`targets/${delta.target}`]);
  });
});

describe('DeviceAgent OTA: fetching signed metadata', () => {
  it('tries again when a metadata download breaks off, and then updates', async () => {
    const agent = await startedAgent();
    server.cutNextResponses(1, 0);

    core.createJob(JOB, jobDocument(), [THING]);
    const execution = await finished(agent);

    expect(execution.status).toBe('SUCCEEDED');
    expect(server.requests.filter((r) => r.path === 'tuf/timestamp.json').length).toBeGreaterThan(1);
  });
});
