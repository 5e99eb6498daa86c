import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { OtaEventV1 } from '../../contract/ota';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { InMemoryJobDispatcher } from '../../functions/adapters/in-memory-job-dispatcher';
import { InMemoryRolloutPlanStore } from '../../functions/adapters/in-memory-rollout-plan-store';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { InMemoryTrustFiles, InMemoryTrustStore } from '../../functions/adapters/in-memory-trust-repository';
import { RolloutStateError, ValidationError } from '../../functions/domain/errors';
import type { WaveSpec } from '../../functions/domain/rollout';
import type { ReleaseCatalog } from '../../functions/ports/release-catalog';
import type { RolloutOrchestrator } from '../../functions/ports/rollout-orchestrator';
import type { TargetDevice } from '../../functions/ports/target-resolver';
import { makeControlRollout } from '../../functions/use-cases/rollouts/control-rollout';
import type { RolloutRequest } from '../../functions/use-cases/rollouts/plan-rollout';
import { makePlanRollout } from '../../functions/use-cases/rollouts/plan-rollout';
import { makeRecordOtaEvent } from '../../functions/use-cases/rollouts/record-ota-event';
import { makeRollbackRollout } from '../../functions/use-cases/rollouts/rollback-rollout';
import { makeGetRolloutStatus } from '../../functions/use-cases/rollouts/rollout-status';
import {
  makeAddWaveDevices,
  makeCheckWave,
  makeCreateWaveJob,
  makeFinishRollout,
  makeNextStep,
  makeParkRollout,
  makeStartWave,
  makeWriteExecutions,
} from '../../functions/use-cases/rollouts/run-waves';
import { makeStartRollout } from '../../functions/use-cases/rollouts/start-rollout';
import { release } from './rollout-harness';

const waves = (...specs: Partial<WaveSpec>[]): WaveSpec[] =>
  specs.map((s) => ({
    size: { percent: 100 },
    soakSeconds: 0,
    successThreshold: 100,
    maxFailures: 0,
    requireApproval: false,
    ...s,
  }));

function setup(deviceCount = 30, { clock = { now: () => new Date() } } = {}) {
  const rollouts = new InMemoryRolloutStore();
  const jobs = new InMemoryJobDispatcher();
  const plans = new InMemoryRolloutPlanStore();
  const started: string[] = [];
  const proceeded: string[] = [];
  const orchestrator: RolloutOrchestrator = {
    // The state machine's first steps write the executions, a piece of the plan at a time.
    start: async (id) => {
      started.push(id);
      const write = makeWriteExecutions({ rollouts, plans });
      for (let piece: number | null = 0; piece !== null; ) piece = (await write(id, piece)).next;
    },
    stop: async () => {},
    proceed: async (token) => {
      proceeded.push(token);
      return 'resumed' as const;
    },
  };
  const catalog = new Map([release('1.0.0'), release('1.1.0')].map((r) => [r.releaseId, r]));
  const releases: ReleaseCatalog = {
    getRelease: async (id) => catalog.get(id),
    findByVersion: async (v) => [...catalog.values()].find((r) => r.version === v),
  };
  const devices: TargetDevice[] = Array.from({ length: deviceCount }, (_, i) => ({
    deviceId: `d${String(i).padStart(2, '0')}`,
    hardwareType: i === deviceCount - 1 ? 'other-hw' : 'rpi4',
    site: `site-${i % 3}`,
    region: 'eu',
    firmwareVersion: '1.0.0',
  }));
  const targets = {
    resolve: async (target: RolloutRequest['target']) =>
      'deviceIds' in target ? devices.filter((d) => target.deviceIds.includes(d.deviceId)) : devices,
  };
  // The repository was published under root v2: jobs carry 2.root.json for devices still on v1.
  const trustStore = new InMemoryTrustStore();
  void trustStore.putState({ rootVersion: 2, versions: { targets: 3, snapshot: 3, timestamp: 3 } });
  const startRollout = makeStartRollout({
    releases,
    targets,
    rollouts,
    orchestrator,
    clock,
    trust: trustStore,
    plans,
  });
  const rollback = makeRollbackRollout({ rollouts, releases, startRollout });
  const record = makeRecordOtaEvent({ rollouts });
  const seq = new Map<string, number>();
  /** The device's agent reports `stage`, running `version`. */
  const report = async (
    rolloutId: string,
    deviceId: string,
    waveIndex: number,
    stage: OtaEventV1['stage'],
    version: string,
  ) => {
    const n = (seq.get(deviceId) ?? 0) + 1;
    seq.set(deviceId, n);
    await record(
      {
        schema: 'edgeops.ota-event.v1',
        eventId: randomUUID(),
        deviceId,
        rolloutId,
        jobId: `${rolloutId}-w${waveIndex}`,
        stage,
        runningVersion: version,
        slot: 'B',
        at: Date.now() - 1000,
        seq: n,
      },
      deviceId,
    );
  };
  const steps = {
    next: makeNextStep({ rollouts }),
    startWave: makeStartWave({ rollouts, jobs, clock }),
    addWaveDevices: makeAddWaveDevices({ rollouts, jobs, pageSize: 7 }),
    createWaveJob: makeCreateWaveJob({
      rollouts,
      releases,
      deltas: new InMemoryDeltaStore(),
      trust: { store: trustStore, files: new InMemoryTrustFiles() },
      jobs,
      settings: { healthCheckSeconds: 5 },
    }),
    check: makeCheckWave({ rollouts, jobs, clock, waveTimeoutMinutes: 60 }),
    park: makeParkRollout({ rollouts, orchestrator }),
    finish: makeFinishRollout({ rollouts, jobs, rollback }),
  };
  /** StartWave, AddWaveDevices until no cursor is left, CreateWaveJob: as the state machine does. */
  const launchWave = async (rolloutId: string, waveIndex: number) => {
    const start = await steps.startWave(rolloutId, waveIndex);
    if (!start.started) return start;
    let cursor: string | undefined;
    do cursor = (await steps.addWaveDevices(rolloutId, waveIndex, cursor)).cursor;
    while (cursor);
    return steps.createWaveJob(rolloutId, waveIndex);
  };
  /** Drives the run as the state machine does; `behave` plays each queued device. */
  const run = async (
    rolloutId: string,
    behave: (deviceId: string, wave: number) => 'healthy' | 'rolled-back',
  ) => {
    for (;;) {
      const step = await steps.next(rolloutId);
      if (step.action === 'complete') return steps.finish(rolloutId, { outcome: 'succeeded' });
      if (step.action !== 'start') return rollouts.getRollout(rolloutId);
      const { jobId } = await launchWave(rolloutId, step.waveIndex);
      for (const deviceId of jobs.jobs.get(jobId)?.deviceIds ?? []) {
        const outcome = behave(deviceId, step.waveIndex);
        await report(rolloutId, deviceId, step.waveIndex, 'downloading', '1.0.0');
        await report(rolloutId, deviceId, step.waveIndex, outcome, outcome === 'healthy' ? '1.1.0' : '1.0.0');
        const status = outcome === 'healthy' ? 'SUCCEEDED' : 'FAILED';
        jobs.setStatus(jobId, deviceId, status);
        await rollouts.applyJobExecutionStatus(rolloutId, step.waveIndex, deviceId, status);
      }
      for (const phase of ['progress', 'gate'] as const) {
        const check = await steps.check(rolloutId, step.waveIndex, phase);
        if (check.outcome === 'failed')
          return steps.finish(rolloutId, { outcome: 'halted', reason: check.reason });
      }
    }
  };
  return {
    rollouts,
    jobs,
    started,
    proceeded,
    startRollout,
    rollback,
    report,
    steps,
    launchWave,
    run,
    releases,
    targets,
    trustStore,
  };
}

const request = (patch: Partial<RolloutRequest> = {}): RolloutRequest => ({
  releaseId: 'rel-1.1.0',
  target: { filter: {} },
  waves: waves({ size: { count: 6 } }, { size: { percent: 30 } }, { size: { percent: 100 } }),
  failurePolicy: 'halt',
  force: false,
  ...patch,
});

describe('rollout flow (use cases on in-memory adapters)', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });

  it('runs three waves to success, one job per wave, every compatible device healthy', async () => {
    const { rollout, excluded } = await t.startRollout(request(), 'ops');
    expect(excluded).toEqual([
      { deviceId: 'd29', reason: 'release has no artifact for hardware type other-hw' },
    ]);

    const finished = await t.run(rollout.rolloutId, () => 'healthy');

    expect(finished?.status).toBe('succeeded');
    expect([...t.jobs.jobs.keys()]).toEqual([0, 1, 2].map((w) => `${rollout.rolloutId}-w${w}`));
    const document = t.jobs.jobs.get(`${rollout.rolloutId}-w0`)?.document;
    expect(document).toMatchObject({
      schema: 'edgeops.ota.v2',
      trust: {
        metadata: {
          '2.root.json': 's3://edgeops-trust/tuf/2.root.json',
          'timestamp.json': 's3://edgeops-trust/tuf/timestamp.json',
          'snapshot.json': 's3://edgeops-trust/tuf/snapshot.json',
          'targets.json': 's3://edgeops-trust/tuf/targets.json',
        },
      },
    });
    expect(document?.artifacts[0]).toMatchObject({ hardwareType: 'rpi4', target: 'rel-1.1.0/rpi4/image' });
    const status = await makeGetRolloutStatus({ rollouts: t.rollouts })(rollout.rolloutId);
    expect(status.funnels.reduce((n, f) => n + f.healthy, 0)).toBe(29);
  });

  it('halts after a failing canary; no device outside it ever gets a job', async () => {
    const { rollout } = await t.startRollout(request(), 'ops');
    const canary = new Set((await t.rollouts.listExecutions(rollout.rolloutId, 0)).map((e) => e.deviceId));
    const [bad] = canary;

    const finished = await t.run(rollout.rolloutId, (id) => (id === bad ? 'rolled-back' : 'healthy'));

    expect(finished?.status).toBe('halted');
    expect(finished?.haltReason).toMatch(new RegExp(`${bad}`));
    expect([...t.jobs.jobs.values()].flatMap((j) => j.deviceIds).every((id) => canary.has(id))).toBe(true);
    expect(t.jobs.jobs.get(`${rollout.rolloutId}-w0`)?.status).not.toBe('IN_PROGRESS');
  });

  it('rolls the updated devices back by policy when a wave fails', async () => {
    const { rollout } = await t.startRollout(request({ failurePolicy: 'rollback' }), 'ops');
    const canary = [...(await t.rollouts.listExecutions(rollout.rolloutId, 0))].map((e) => e.deviceId);

    await t.run(rollout.rolloutId, (id) => (id === canary[0] ? 'rolled-back' : 'healthy'));

    const rollbackJob = [...t.jobs.jobs.entries()].find(([, j]) => j.document.operation === 'rollback');
    expect(rollbackJob).toBeUndefined(); // started, but its first wave runs in the orchestrator
    expect(t.started).toHaveLength(2);
    const rollbackId = t.started[1] as string;
    const rollbackRollout = await t.rollouts.getRollout(rollbackId);
    expect(rollbackRollout).toMatchObject({
      operation: 'rollback',
      releaseId: 'rel-1.0.0',
      rollbackOf: rollout.rolloutId,
    });
    const targeted = (await t.rollouts.listExecutions(rollbackId)).map((e) => e.deviceId).sort();
    expect(targeted).toEqual(canary.slice(1).sort());
  });

  it('leaves out devices held by another active rollout unless forced', async () => {
    await t.startRollout(request({ target: { deviceIds: ['d01'] }, waves: waves({}) }), 'ops');
    const plan = await makePlanRollout(t)(request());
    expect(plan.excluded).toContainEqual({
      deviceId: 'd01',
      reason: expect.stringMatching(/in active rollout/),
    });
  });

  it.each<[string, Partial<RolloutRequest>, string]>([
    ['an unknown release', { releaseId: 'rel-9' }, 'releaseId'],
    ['impossible wave sizes', { waves: waves({ size: { count: 40 } }, {}) }, 'waves'],
  ])('refuses %s and starts nothing', async (_case, patch, field) => {
    await expect(t.startRollout(request(patch), 'ops')).rejects.toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ field })] }),
    );
    expect(t.started).toEqual([]);
  });

  it('refuses a target with no compatible device', async () => {
    const only = setup(1);
    await expect(only.startRollout(request(), 'ops')).rejects.toBeInstanceOf(ValidationError);
  });

  it('refuses to start before the root ceremony, and writes nothing', async () => {
    const t = setup();
    await t.trustStore.putState({ rootVersion: 1 });

    await expect(t.startRollout(request(), 'ops')).rejects.toThrow(/run the root ceremony/);
    expect(t.started).toEqual([]);
    expect((await t.rollouts.listRollouts(10)).items).toEqual([]);
  });
});

describe('operator control', () => {
  it('pauses before the next wave and goes on when resumed', async () => {
    const t = setup();
    const { rollout } = await t.startRollout(request(), 'ops');
    const control = makeControlRollout({
      rollouts: t.rollouts,
      jobs: t.jobs,
      orchestrator: {
        start: async () => {},
        stop: async () => {},
        proceed: async (tok) => {
          t.proceeded.push(tok);
          return 'resumed' as const;
        },
      },
    });

    await control(rollout.rolloutId, 'pause', 'ops');
    expect(await t.steps.next(rollout.rolloutId)).toEqual({ action: 'pause' });
    await t.steps.park(rollout.rolloutId, 'token-1', 'pause');
    expect((await t.rollouts.getRollout(rollout.rolloutId))?.status).toBe('paused');

    await control(rollout.rolloutId, 'resume', 'ops');

    expect(t.proceeded).toEqual(['token-1']);
    expect(await t.steps.next(rollout.rolloutId)).toMatchObject({ action: 'start', waveIndex: 0 });
  });

  it('aborts: cancels the current job, frees the devices, and starts nothing else', async () => {
    const t = setup();
    const { rollout } = await t.startRollout(request(), 'ops');
    await t.launchWave(rollout.rolloutId, 0);
    const control = makeControlRollout({
      rollouts: t.rollouts,
      jobs: t.jobs,
      orchestrator: { start: async () => {}, stop: async () => {}, proceed: async () => 'resumed' as const },
    });

    const aborted = await control(rollout.rolloutId, 'abort', 'ops');

    expect(aborted.status).toBe('aborted');
    expect(t.jobs.canceled).toEqual([`${rollout.rolloutId}-w0`]);
    expect(await t.steps.startWave(rollout.rolloutId, 1)).toMatchObject({ started: false });
    expect((await t.rollouts.activeClaims(['d00', 'd01'])).size).toBe(0);
    await expect(control(rollout.rolloutId, 'resume', 'ops')).rejects.toBeInstanceOf(RolloutStateError);
  });
});

describe('an abort racing a wave start', () => {
  it('cancels the job and deletes the group a wave start made after the abort cleaned up', async () => {
    const t = setup();
    const { rollout } = await t.startRollout(request({ waves: waves({}) }), 'ops');
    const jobId = `${rollout.rolloutId}-w0`;
    await t.steps.startWave(rollout.rolloutId, 0);
    await t.steps.addWaveDevices(rollout.rolloutId, 0);
    // The operator aborts while CreateWaveJob is creating the job.
    const startJob = t.jobs.startJob.bind(t.jobs);
    t.jobs.startJob = async (id, document) => {
      await startJob(id, document);
      await t.rollouts.transition(rollout.rolloutId, ['running'], { status: 'aborted' });
    };

    const created = await t.steps.createWaveJob(rollout.rolloutId, 0);

    expect(created.started).toBe(false);
    expect(t.jobs.canceled).toEqual([jobId]);
    expect(t.jobs.groupsOf('d00')).toEqual([]);
  });

  it('adds no more devices once the rollout stopped running', async () => {
    const t = setup();
    const { rollout } = await t.startRollout(request({ waves: waves({}) }), 'ops');
    await t.steps.startWave(rollout.rolloutId, 0);
    await t.rollouts.transition(rollout.rolloutId, ['running'], { status: 'aborted' });

    expect(await t.steps.addWaveDevices(rollout.rolloutId, 0)).toEqual({ added: 0 });
    expect(t.jobs.groupsOf('d00')).toEqual([]);
  });
});

describe('recordOtaEvent', () => {
  it('ignores a duplicate and an out-of-order event', async () => {
    const t = setup();
    const { rollout } = await t.startRollout(request({ waves: waves({}) }), 'ops');
    await t.launchWave(rollout.rolloutId, 0);
    const record = makeRecordOtaEvent({ rollouts: t.rollouts });
    const event = (seq: number, stage: OtaEventV1['stage']): OtaEventV1 => ({
      schema: 'edgeops.ota-event.v1',
      eventId: randomUUID(),
      deviceId: 'd00',
      rolloutId: rollout.rolloutId,
      jobId: `${rollout.rolloutId}-w0`,
      stage,
      runningVersion: '1.0.0',
      slot: 'A',
      at: Date.now(),
      seq,
    });

    expect(await record(event(2, 'installing'), 'd00')).toBe('applied');
    expect(await record(event(2, 'installing'), 'd00')).toBe('ignored');
    expect(await record(event(1, 'downloading'), 'd00')).toBe('ignored');
    expect(
      (await t.rollouts.listExecutions(rollout.rolloutId, 0)).find((e) => e.deviceId === 'd00')?.stage,
    ).toBe('installing');
  });

  it('refuses an event a device sends for another device', async () => {
    const t = setup();
    const record = makeRecordOtaEvent({ rollouts: t.rollouts });
    await expect(
      record(
        {
          schema: 'edgeops.ota-event.v1',
          eventId: randomUUID(),
          deviceId: 'd01',
          rolloutId: 'ro-1',
          jobId: 'ro-1-w0',
          stage: 'healthy',
          runningVersion: '1',
          slot: 'A',
          at: 1,
          seq: 1,
        },
        'd00',
      ),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});
