/**
 * The steps the rollout state machine runs, one use case each. Every step re-reads the rollout,
 * so an operator's pause or abort between steps is seen at the next one.
 */
import { RolloutNotFoundError } from '../../domain/errors';
import {
  deltaTargetPath,
  imageTargetPath,
  type JobDocumentV2,
  rollbackTargetPath,
} from '../../domain/ota-contract';
import { gateWave, progressOfWave, type Rollout, type Wave, type WaveTally } from '../../domain/rollout';
import type { Clock } from '../../ports/clock';
import type { DeltaStore } from '../../ports/delta-store';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { ReleaseCatalog } from '../../ports/release-catalog';
import type { RolloutOrchestrator } from '../../ports/rollout-orchestrator';
import type { RolloutStore } from '../../ports/rollout-store';
import type { TrustFiles, TrustStore } from '../../ports/trust-repository';
import { rootFileName } from '../trust/publish-trust';

export const jobIdOf = (rolloutId: string, waveIndex: number) => `${rolloutId}-w${waveIndex}`;

/** The wave index a job id names, if the job belongs to `rolloutId`. */
export function waveOfJob(rolloutId: string, jobId: string): number | undefined {
  const match = /^(.+)-w(\d{1,3})$/.exec(jobId);
  return match && match[1] === rolloutId ? Number(match[2]) : undefined;
}

async function load(rollouts: RolloutStore, rolloutId: string): Promise<Rollout> {
  const rollout = await rollouts.getRollout(rolloutId);
  if (!rollout) throw new RolloutNotFoundError(rolloutId);
  return rollout;
}

const withWave = (rollout: Rollout, index: number, change: Partial<Wave>): Wave[] =>
  rollout.waves.map((w) => (w.index === index ? { ...w, ...change } : w));

export type NextStep =
  | { readonly action: 'start'; readonly waveIndex: number; readonly soakSeconds: number }
  | { readonly action: 'pause' | 'complete' | 'stop' };

/** Decides what the state machine does next: start the next wave, park for a pause, or finish. */
export const makeNextStep =
  ({ rollouts }: { rollouts: RolloutStore }) =>
  async (rolloutId: string): Promise<NextStep> => {
    const rollout = await load(rollouts, rolloutId);
    if (rollout.status === 'pausing' || rollout.status === 'paused') return { action: 'pause' };
    if (rollout.status !== 'running') return { action: 'stop' };
    const next = rollout.currentWave + 1;
    const wave = rollout.waves[next];
    if (!wave) return { action: 'complete' };
    return { action: 'start', waveIndex: next, soakSeconds: wave.soakSeconds };
  };

export interface JobDocumentSettings {
  /** Seconds the device keeps the new slot on trial before confirming it. */
  readonly healthCheckSeconds: number;
}

/**
 * Starts a wave:
 * 1. skips it if the rollout stopped running meanwhile (aborted);
 * 2. records the wave as running under its job id and queues its devices;
 * 3. creates the wave's one IoT job. Its document names, per hardware type, the signed image
 *    target (or, for a rollback, the downgrade signed for this rollout) and the ready deltas to
 *    it, with where to fetch them and every TUF metadata file a device may need: the roots after
 *    the first, and the current timestamp, snapshot and targets.
 */
export const makeStartWave =
  (ports: {
    rollouts: RolloutStore;
    releases: ReleaseCatalog;
    deltas: DeltaStore;
    trust: { store: TrustStore; files: TrustFiles };
    jobs: JobDispatcher;
    clock: Clock;
    settings: JobDocumentSettings;
  }) =>
  async (rolloutId: string, waveIndex: number): Promise<{ started: boolean; jobId: string }> => {
    const { rollouts, releases, jobs, clock, settings, trust } = ports;
    const jobId = jobIdOf(rolloutId, waveIndex);
    const rollout = await load(rollouts, rolloutId);
    // A pause asked for just now lets this wave run and holds the next one.
    if (rollout.status !== 'running' && rollout.status !== 'pausing') return { started: false, jobId };
    const release = await releases.getRelease(rollout.releaseId);
    if (!release) throw new Error(`Release ${rollout.releaseId} of rollout ${rolloutId} is gone`);
    const trustState = await trust.store.getState();
    if (!trustState?.versions) throw new Error('The release trust repository has never been published');
    const deltas = (await ports.deltas.listDeltas(release.releaseId)).filter(
      (d) => d.status === 'ready' && d.s3Key,
    );
    const deviceIds = (await rollouts.listExecutions(rolloutId, waveIndex)).map((e) => e.deviceId);
    await rollouts.transition(rolloutId, ['running', 'pausing'], {
      currentWave: waveIndex,
      waves: withWave(rollout, waveIndex, { status: 'running', jobId, startedAt: clock.now().toISOString() }),
    });
    await rollouts.queueWave(rolloutId, waveIndex, deviceIds);
    const metadata: Record<string, string> = {};
    for (let v = 2; v <= trustState.rootVersion; v++)
      metadata[rootFileName(v)] = trust.files.location(rootFileName(v));
    for (const name of ['timestamp.json', 'snapshot.json', 'targets.json'])
      metadata[name] = trust.files.location(name);
    const document: JobDocumentV2 = {
      schema: 'edgeops.ota.v2',
      rolloutId,
      waveIndex,
      operation: rollout.operation,
      release: { releaseId: release.releaseId, version: release.version },
      trust: { metadata },
      artifacts: release.artifacts.map((a) => ({
        hardwareType: a.hardwareType,
        target:
          rollout.operation === 'rollback'
            ? rollbackTargetPath(rolloutId, a.hardwareType)
            : imageTargetPath(release.releaseId, a.hardwareType),
        url: `s3://${a.bucket}/${a.key}`,
        deltas: deltas
          .filter((d) => d.hardwareType === a.hardwareType && d.imageSha256 === a.sha256)
          .slice(0, 8)
          .map((d) => ({
            baseSha256: d.baseSha256,
            target: deltaTargetPath(release.releaseId, a.hardwareType, d.baseSha256),
            url: `s3://${a.bucket}/${d.s3Key}`,
          })),
      })),
      healthCheckSeconds: settings.healthCheckSeconds,
    };
    await jobs.startJob(jobId, deviceIds, document);
    return { started: true, jobId };
  };

export type WaveCheck =
  | {
      readonly outcome: 'running' | 'settled' | 'passed';
      readonly tally: WaveTally;
      readonly requireApproval: boolean;
    }
  | { readonly outcome: 'failed'; readonly tally: WaveTally; readonly reason: string }
  | { readonly outcome: 'stopped' };

/**
 * Checks a running wave (`progress`) or, after its soak, gates it (`gate`), and records the
 * wave's status: settled → soaking, passed, failed.
 */
export const makeCheckWave =
  ({
    rollouts,
    jobs,
    clock,
    waveTimeoutMinutes,
  }: {
    rollouts: RolloutStore;
    jobs: JobDispatcher;
    clock: Clock;
    /** After this long, devices of a wave with no result count as failed. */
    waveTimeoutMinutes: number;
  }) =>
  async (rolloutId: string, waveIndex: number, phase: 'progress' | 'gate'): Promise<WaveCheck> => {
    const rollout = await load(rollouts, rolloutId);
    const wave = rollout.waves[waveIndex];
    if (!wave || !['running', 'pausing', 'paused'].includes(rollout.status)) return { outcome: 'stopped' };
    const [executions, statuses] = await Promise.all([
      rollouts.listExecutions(rolloutId, waveIndex),
      jobs.executionStatuses(jobIdOf(rolloutId, waveIndex)),
    ]);
    const now = clock.now();
    const deadline = wave.startedAt
      ? new Date(Date.parse(wave.startedAt) + waveTimeoutMinutes * 60_000)
      : undefined;
    const verdict =
      phase === 'progress'
        ? progressOfWave(wave, executions, statuses, rollout.version, now, deadline)
        : gateWave(wave, executions, statuses, rollout.version, now);
    const status = { settled: 'soaking', passed: 'passed', failed: 'failed', running: undefined }[
      verdict.outcome
    ];
    if (status && status !== wave.status) {
      await rollouts.transition(rolloutId, ['running', 'pausing', 'paused'], {
        waves: withWave(rollout, waveIndex, {
          status: status as Wave['status'],
          ...(status === 'soaking' ? {} : { endedAt: now.toISOString() }),
        }),
      });
    }
    return verdict.outcome === 'failed'
      ? { outcome: 'failed', tally: verdict.tally, reason: verdict.reason }
      : { outcome: verdict.outcome, tally: verdict.tally, requireApproval: wave.requireApproval };
  };

/**
 * Parks the run on a Step Functions task token: for a pause the operator asked for, or for the
 * approval a wave requires. If the operator already resumed meanwhile, it goes on at once.
 */
export const makeParkRollout =
  ({ rollouts, orchestrator }: { rollouts: RolloutStore; orchestrator: RolloutOrchestrator }) =>
  async (rolloutId: string, taskToken: string, kind: 'pause' | 'approval'): Promise<void> => {
    await rollouts.setTaskToken(rolloutId, taskToken);
    const rollout = await load(rollouts, rolloutId);
    if (kind === 'pause' && rollout.status === 'pausing') {
      await rollouts.transition(rolloutId, ['pausing'], { status: 'paused' });
    } else if (kind === 'approval' && rollout.status === 'running') {
      await rollouts.transition(rolloutId, ['running'], { status: 'awaiting-approval' });
    } else {
      await rollouts.setTaskToken(rolloutId, undefined);
      await orchestrator.proceed(taskToken);
    }
  };

/**
 * Ends a run: `succeeded` after the last wave passed, or `halted` with the failing wave's reason.
 * A halt cancels the wave's executions that have not started and leaves later waves unstarted;
 * with the rollback policy, the devices already updated go back to where they were.
 */
export const makeFinishRollout =
  (ports: {
    rollouts: RolloutStore;
    jobs: JobDispatcher;
    rollback: (rolloutId: string, actor: string) => Promise<unknown>;
  }) =>
  async (rolloutId: string, result: { outcome: 'succeeded' } | { outcome: 'halted'; reason: string }) => {
    const { rollouts, jobs } = ports;
    const rollout = await load(rollouts, rolloutId);
    if (!['running', 'pausing', 'paused', 'awaiting-approval'].includes(rollout.status)) return rollout;
    const waves = rollout.waves.map((w) =>
      w.status === 'pending' || w.status === 'running' || w.status === 'soaking'
        ? { ...w, status: result.outcome === 'halted' ? ('canceled' as const) : w.status }
        : w,
    );
    const finished = await rollouts.transition(
      rolloutId,
      ['running', 'pausing', 'paused', 'awaiting-approval'],
      {
        status: result.outcome,
        waves,
        ...(result.outcome === 'halted' ? { haltReason: result.reason } : {}),
      },
    );
    if (result.outcome === 'halted') {
      const current = rollout.waves[rollout.currentWave];
      if (current?.jobId) await jobs.cancelJob(current.jobId, 'rollout halted');
    }
    const executions = await rollouts.listExecutions(rolloutId);
    await rollouts.releaseDevices(
      rolloutId,
      executions.map((e) => e.deviceId),
    );
    if (result.outcome === 'halted' && rollout.failurePolicy === 'rollback') {
      await ports.rollback(rolloutId, 'edgeops (rollback policy)');
    }
    return finished;
  };
