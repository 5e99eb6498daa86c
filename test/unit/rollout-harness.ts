/**
 * A whole rollout on in-memory adapters, driven as the state machine drives it: next → start
 * wave → add its devices → create its job → devices report → progress → gate → end wave → …
 * → finish. Devices remember the version they run, so rollouts can follow one another.
 */
import { randomUUID } from 'node:crypto';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { InMemoryJobDispatcher } from '../../functions/adapters/in-memory-job-dispatcher';
import { InMemoryRolloutPlanStore } from '../../functions/adapters/in-memory-rollout-plan-store';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { InMemoryTrustFiles, InMemoryTrustStore } from '../../functions/adapters/in-memory-trust-repository';
import type { WaveSpec } from '../../functions/domain/rollout';
import type { JobDispatcher } from '../../functions/ports/job-dispatcher';
import type {
  ReleaseCatalog,
  ReleaseComponent,
  ReleaseForRollout,
} from '../../functions/ports/release-catalog';
import type { RolloutOrchestrator } from '../../functions/ports/rollout-orchestrator';
import type { RolloutStore } from '../../functions/ports/rollout-store';
import type { TargetDevice } from '../../functions/ports/target-resolver';
import { makeControlRollout } from '../../functions/use-cases/rollouts/control-rollout';
import { makeFailRollout } from '../../functions/use-cases/rollouts/fail-rollout';
import type { RolloutRequest } from '../../functions/use-cases/rollouts/plan-rollout';
import { makeRecordOtaEvent } from '../../functions/use-cases/rollouts/record-ota-event';
import { makeRollbackRollout } from '../../functions/use-cases/rollouts/rollback-rollout';
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
import { makeEndWave } from '../../functions/use-cases/rollouts/wave-groups';

/** One component of a release for one hardware type (a single image: `firmware` on `rootfs`). */
export const component = (version: string, patch: Partial<ReleaseComponent> = {}): ReleaseComponent => ({
  name: 'firmware',
  handler: 'rootfs',
  order: 0,
  settings: {},
  version,
  bucket: 'b',
  key: `artifacts/${version}`,
  size: 10,
  sha256: 'a'.repeat(64),
  ...patch,
});

export const release = (version: string): ReleaseForRollout => ({
  releaseId: `rel-${version}`,
  version,
  components: { rpi4: [component(version)] },
});

export const waves = (...specs: Partial<WaveSpec>[]): WaveSpec[] =>
  specs.map((s) => ({
    size: { percent: 100 },
    soakSeconds: 0,
    successThreshold: 100,
    maxFailures: 0,
    requireApproval: false,
    ...s,
  }));

export type Behaviour = 'healthy' | 'rolled-back';

export interface HarnessOptions {
  readonly deviceCount?: number;
  /** Releases that exist; devices start on the first. */
  readonly versions?: readonly string[];
  /** Another store, e.g. one that lets a test change the rollout between a read and a write. */
  readonly rollouts?: InMemoryRolloutStore;
  /** Wraps the in-memory dispatcher, e.g. to make some calls fail. */
  readonly jobs?: (groups: InMemoryJobDispatcher) => JobDispatcher;
}

export function rolloutHarness(options: HarnessOptions = {}) {
  const { deviceCount = 4, versions = ['1.0.0', '1.1.0'] } = options;
  const rollouts = options.rollouts ?? new InMemoryRolloutStore();
  const groups = new InMemoryJobDispatcher();
  const jobs = options.jobs?.(groups) ?? groups;
  const plans = new InMemoryRolloutPlanStore();
  const clock = { now: () => new Date() };
  const calls = { started: [] as string[], stopped: [] as string[], proceeded: [] as string[] };
  /** What SendTaskSuccess answers: `gone` once the run waiting on the token has ended. */
  const sfn = { proceedAnswer: 'resumed' as 'resumed' | 'gone' };
  const orchestrator: RolloutOrchestrator = {
    // The state machine's first steps write the executions, a piece of the plan at a time.
    start: async (id) => {
      calls.started.push(id);
      const write = makeWriteExecutions({ rollouts, plans });
      for (let piece: number | null = 0; piece !== null; ) piece = (await write(id, piece)).next;
    },
    stop: async (id) => void calls.stopped.push(id),
    proceed: async (token) => {
      calls.proceeded.push(token);
      return sfn.proceedAnswer;
    },
  };
  const catalog = new Map(versions.map((v) => [`rel-${v}`, release(v)]));
  const releases: ReleaseCatalog = {
    getRelease: async (id) => catalog.get(id),
    findByVersion: async (v) => [...catalog.values()].find((r) => r.version === v),
  };
  const devices: TargetDevice[] = Array.from({ length: deviceCount }, (_, i) => ({
    deviceId: `d${String(i).padStart(2, '0')}`,
    hardwareType: 'rpi4',
    site: `site-${i % 2}`,
    region: 'eu',
    firmwareVersion: versions[0] as string,
  }));
  const targets = {
    resolve: async (target: RolloutRequest['target']) =>
      'deviceIds' in target ? devices.filter((d) => target.deviceIds.includes(d.deviceId)) : devices,
  };
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
  let seq = 0;
  const steps = {
    next: makeNextStep({ rollouts }),
    startWave: makeStartWave({ rollouts, jobs, clock }),
    addWaveDevices: makeAddWaveDevices({ rollouts, jobs, pageSize: 3 }),
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
    endWave: makeEndWave({ rollouts, jobs }),
    finish: makeFinishRollout({ rollouts, jobs, rollback }),
    fail: makeFailRollout({ rollouts, jobs }),
  };
  const control = makeControlRollout({ rollouts, jobs, orchestrator });

  /** StartWave, AddWaveDevices until no cursor is left, CreateWaveJob. */
  const launchWave = async (rolloutId: string, waveIndex: number) => {
    const start = await steps.startWave(rolloutId, waveIndex);
    if (!start.started) return start;
    let cursor: string | undefined;
    do cursor = (await steps.addWaveDevices(rolloutId, waveIndex, cursor)).cursor;
    while (cursor);
    return steps.createWaveJob(rolloutId, waveIndex);
  };

  /**
   * Each device of the wave's job downloads, then ends as `behave` says, and AWS IoT records it;
   * a `silent` one has not taken its execution yet.
   */
  const playWave = async (
    rolloutId: string,
    waveIndex: number,
    behave: (deviceId: string) => Behaviour | 'silent',
  ) => {
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new Error(`No rollout ${rolloutId}`);
    const jobId = `${rollout.rolloutId}-w${waveIndex}`;
    for (const deviceId of groups.jobs.get(jobId)?.deviceIds ?? []) {
      const device = devices.find((d) => d.deviceId === deviceId);
      const before = device?.firmwareVersion ?? versions[0] ?? '';
      const outcome = behave(deviceId);
      if (outcome === 'silent') continue;
      const event = (stage: Behaviour | 'downloading', version: string) =>
        record(
          {
            schema: 'edgeops.ota-event.v1',
            eventId: randomUUID(),
            deviceId,
            rolloutId: rollout.rolloutId,
            jobId,
            stage,
            runningVersion: version,
            slot: 'B',
            at: Date.now() - 1000,
            seq: ++seq,
          },
          deviceId,
        );
      await event('downloading', before);
      const after = outcome === 'healthy' ? rollout.version : before;
      await event(outcome, after);
      if (device) Object.assign(device, { firmwareVersion: after });
      const status = outcome === 'healthy' ? 'SUCCEEDED' : 'FAILED';
      groups.setStatus(jobId, deviceId, status);
      await rollouts.applyJobExecutionStatus(rollout.rolloutId, waveIndex, deviceId, status);
    }
  };

  /**
   * Drives the run as the state machine does, `afterLaunch` looking on after each wave's job
   * exists; ends with the finish step, as the run would.
   */
  const runToEnd = async (
    rolloutId: string,
    behave: (deviceId: string, wave: number) => Behaviour = () => 'healthy',
    afterLaunch: (waveIndex: number) => Promise<void> | void = () => {},
    /** A telemetry gate answered `settled` (waiting for a window): what happens before it looks again. */
    gateWaiting: (waveIndex: number) => Promise<void> | void = () => {
      throw new Error('The gate waits for telemetry that this test never sends');
    },
  ) => {
    for (;;) {
      const step = await steps.next(rolloutId);
      if (step.action === 'complete') return steps.finish(rolloutId, { outcome: 'succeeded' });
      if (step.action !== 'start') return rollouts.getRollout(rolloutId);
      await launchWave(rolloutId, step.waveIndex);
      await afterLaunch(step.waveIndex);
      await playWave(rolloutId, step.waveIndex, (id) => behave(id, step.waveIndex));
      for (const phase of ['progress', 'gate'] as const) {
        let check = await steps.check(rolloutId, step.waveIndex, phase);
        // As the state machine does: a gate waiting for telemetry is asked again after a poll.
        for (let polls = 0; phase === 'gate' && check.outcome === 'settled'; polls++) {
          if (polls >= 10) throw new Error('The gate kept waiting for telemetry');
          await gateWaiting(step.waveIndex);
          check = await steps.check(rolloutId, step.waveIndex, phase);
        }
        if (check.outcome === 'failed')
          return steps.finish(rolloutId, { outcome: 'halted', reason: check.reason });
      }
      await steps.endWave(rolloutId, step.waveIndex);
    }
  };

  const request = (patch: Partial<RolloutRequest> = {}): RolloutRequest => ({
    releaseId: `rel-${versions[1] ?? versions[0]}`,
    target: { filter: {} },
    waves: waves({ size: { count: 1 } }, { size: { percent: 100 } }),
    failurePolicy: 'halt',
    force: false,
    ...patch,
  });

  return {
    rollouts: rollouts as RolloutStore,
    store: rollouts,
    jobs,
    groups,
    devices,
    calls,
    sfn,
    orchestrator,
    startRollout,
    rollback,
    steps,
    control,
    launchWave,
    playWave,
    runToEnd,
    request,
  };
}
