import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { JobDocumentV2 } from '../../contract/ota';
import { DeviceAgent, type DeviceAgentOtaOptions } from '../../device/device-agent';
import { installTrustRoot, verifyRelease } from '../../device/ota/release-trust';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { LocalReleaseRepository } from '../../simulator/local-release-repository';
import { sha256 } from '../support/bytes';

const THING = 'dev-limits-1';
const RELEASE = { releaseId: 'rel-2', version: '2.0.0' };
const IMAGE = Buffer.from(Array.from({ length: 40_000 }, (_, i) => (i * 7919) % 251));
/** Where the local repository serves the signed image (LocalReleaseRepository). */
const IMAGE_PATH = 'targets/rel-2/rpi4/image';

let server: LocalArtifactServer;
let repo: LocalReleaseRepository;
let image: { target: string; url: string };
let dir: string;

beforeEach(async () => {
  server = await startLocalArtifactServer();
  repo = await LocalReleaseRepository.create(server);
  image = await repo.addImage(RELEASE, 'rpi4', IMAGE);
  dir = await mkdtemp(join(tmpdir(), 'edgeops-limits-'));
});

afterEach(async () => {
  server.clearFaults();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const jobDocument = () =>
  repo.jobDocument({
    rolloutId: 'r1',
    operation: 'install',
    release: RELEASE,
    artifacts: [{ hardwareType: 'rpi4', target: image.target, url: image.url }],
    healthCheckSeconds: 1,
  });

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work;
  return { result, ms: performance.now() - started };
}

describe('TUF metadata fetches end', () => {
  const verify = async (metadataFetchTimeoutMs: number) => {
    const trustDir = join(dir, 'trust');
    await installTrustRoot(trustDir, repo.root);
    return timed(
      verifyRelease({
        trustDir,
        document: JobDocumentV2.parse(jobDocument()),
        hardwareType: 'rpi4',
        runningVersion: '1.0.0',
        now: new Date(),
        log: () => {},
        metadataFetchTimeoutMs,
      }),
    );
  };

  it('from a server that accepts the request and never answers: metadata-unavailable, timeout', async () => {
    server.injectFault({ kind: 'hang' }, { path: 'tuf/timestamp.json' });

    const { result, ms } = await verify(300);

    expect(result).toEqual({
      ok: false,
      reason: 'metadata-unavailable: timeout: timestamp.json not received within 300 ms',
    });
    expect(ms).toBeLessThan(1_500);
  });

  it('from a server that sends the headers, then trickles: the deadline covers the body', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 }, { path: 'tuf/snapshot.json' });

    const { result, ms } = await verify(300);

    expect(result).toEqual({
      ok: false,
      reason: 'metadata-unavailable: timeout: snapshot.json not received within 300 ms',
    });
    expect(ms).toBeLessThan(1_500);
  });

  it('from a server whose body never ends: metadata-too-long at tuf-js length limit, long before the deadline', async () => {
    server.injectFault({ kind: 'endless' }, { path: 'tuf/timestamp.json' });

    const { result, ms } = await verify(10_000);

    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/^metadata-too-long/) });
    expect(ms).toBeLessThan(2_000);
  });

  it('the same for a snapshot whose body goes past the length the timestamp signs', async () => {
    server.injectFault({ kind: 'endless' }, { path: 'tuf/snapshot.json' });

    const { result, ms } = await verify(10_000);

    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/^metadata-too-long/) });
    expect(ms).toBeLessThan(2_000);
  });

  it('but not from a slow server that delivers within the deadline', async () => {
    server.injectFault({ kind: 'trickle', bytes: 200, everyMs: 5 }, { path: 'tuf/targets.json' });

    const { result } = await verify(5_000);

    expect(result).toMatchObject({ ok: true });
  });
});

describe('DeviceAgent OTA: downloads that always end', () => {
  let core: InMemoryIotCore;
  let stateDir: string;
  const agents: DeviceAgent[] = [];

  beforeEach(() => {
    core = new InMemoryIotCore();
    stateDir = join(dir, 'state');
  });

  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });

  /** Time factor 0.001: one second of download budget is 10 ms of wall-clock time. */
  function newAgent(ota: Partial<DeviceAgentOtaOptions> = {}, metered = false) {
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
    return agent;
  }

  async function finished(agent: DeviceAgent, jobId: string, timeoutMs = 4_000) {
    const execution = await core.waitFor(
      () => {
        const e = core.execution(THING, jobId);
        return e && ['SUCCEEDED', 'FAILED', 'REJECTED'].includes(e.status) ? e : undefined;
      },
      timeoutMs,
      `job ${jobId} to end`,
    );
    await agent.whenIdle();
    return execution;
  }

  const jobRecord = async () =>
    JSON.parse(await readFile(join(stateDir, 'job.json'), 'utf8').catch(() => 'null')) as {
      components: { downloadMs?: number }[];
    } | null;

  async function until(check: () => Promise<boolean>, timeoutMs = 3_000) {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it('fails a trickling download with download-too-slow, removes the partial, and takes the next job', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 }, { path: IMAGE_PATH });
    const agent = newAgent({ downloadLimits: { maxSeconds: 50 } });
    await agent.start();

    core.createJob('job-1', jobDocument(), [THING]);
    const { result: execution, ms } = await timed(finished(agent, 'job-1'));

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails).toMatchObject({
      stage: 'failed',
      reason: expect.stringMatching(
        /^download-too-slow: \d+\/40000 bytes after 5\d s, floor 8192 B\/s, deadline 50 s$/,
      ),
    });
    expect(ms).toBeLessThan(2_000);
    expect(await readdir(join(stateDir, 'downloads'))).toEqual([]);
    expect(await jobRecord()).toBeNull();
    expect(JSON.parse(await readFile(join(stateDir, 'boot.json'), 'utf8'))).toEqual({
      active: 'A',
      pending: null,
      trialBoots: 0,
    });

    server.clearFaults();
    core.createJob('job-2', jobDocument(), [THING]);
    expect((await finished(agent, 'job-2')).status).toBe('SUCCEEDED');
    expect(agent.firmwareVersion).toBe('2.0.0');
  });

  it('does not count the time it waits for an unmetered link', async () => {
    core.updateDesired(THING, { edgeops: { bandwidthPolicy: { onMetered: 'delta-only', timeZone: 'UTC' } } });
    // 30 s of budget: 300 ms of wall-clock time, far less than the wait below.
    const agent = newAgent({ downloadLimits: { maxSeconds: 30 } }, true);
    await agent.start();
    await core.waitFor(() => (agent.currentBandwidthPolicy() ? true : undefined), 2_000, 'the policy');

    core.createJob('job-1', jobDocument(), [THING]);
    await until(async () => core.otaEvents(THING).some((e) => e.stage === 'downloading'));
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(server.requests.filter((r) => r.path === IMAGE_PATH)).toHaveLength(0);
    agent.setMetered(false);

    expect((await finished(agent, 'job-1')).status).toBe('SUCCEEDED');
  });

  it('keeps the download time in the job record, so a restart continues the budget', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 }, { path: IMAGE_PATH });
    const limits = { downloadLimits: { maxSeconds: 200 } }; // 2 s of wall-clock time
    const first = newAgent(limits);
    await first.start();
    core.createJob('job-1', jobDocument(), [THING]);
    await until(async () => ((await jobRecord())?.components[0]?.downloadMs ?? 0) >= 140_000);
    await first.stop();
    const spent = (await jobRecord())?.components[0]?.downloadMs ?? 0;

    const restarted = newAgent(limits);
    const { result: execution, ms } = await timed(restarted.start().then(() => finished(restarted, 'job-1')));

    expect(execution.status).toBe('FAILED');
    expect(execution.statusDetails.reason).toMatch(/^download-too-slow: \d+\/40000 bytes after 20\d s/);
    // What was left of the budget (at most 0.6 s), not all of it (2 s) again.
    expect(spent).toBeGreaterThanOrEqual(140_000);
    expect(ms).toBeLessThan(1_500);
    expect(server.requests.filter((r) => r.path === IMAGE_PATH).at(-1)?.range).toMatch(/^bytes=\d+-$/);
  });

  it('still finishes a healthy image download with the default budget', async () => {
    const agent = newAgent();
    await agent.start();

    core.createJob('job-1', jobDocument(), [THING]);

    expect((await finished(agent, 'job-1')).status).toBe('SUCCEEDED');
    expect(sha256(await readFile(join(stateDir, 'slots/B/image.bin')))).toBe(sha256(IMAGE));
  });
});
