/**
 * The steps the rollout state machine runs, one use case each. Every step re-reads the rollout,
 * so an operator's pause or abort between steps is seen at the next one.
 */

import type { JobDocument, JobDocumentV3 } from '../../../contract/ota';
import type { Delta } from '../../domain/delta';
import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import { isV2Compatible, targetPathsOf } from '../../domain/release';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type FailedSample,
  gateWave,
  jobIdOf,
  progressOfWave,
  type Rollout,
  tallyOf,
  type Wave,
  type WaveTally,
  type WaveVerdict,
} from '../../domain/rollout';
import type { GateResult } from '../../domain/telemetry-gate';
import type { Clock } from '../../ports/clock';
import type { DeltaStore } from '../../ports/delta-store';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { ReleaseCatalog, ReleaseComponent, ReleaseForRollout } from '../../ports/release-catalog';
import type { RolloutOrchestrator } from '../../ports/rollout-orchestrator';
import type { RolloutPlanStore } from '../../ports/rollout-plan-store';
import type { RolloutStore } from '../../ports/rollout-store';
import type { TelemetryBaseline } from '../../ports/telemetry-baseline';
import type { TrustFiles, TrustStore } from '../../ports/trust-repository';
import { rootFileName } from '../trust/get-trust-root';
import { checkTelemetryGates } from './gate-telemetry';
import { CleanupIncompleteError, cancelCurrentJob, endStartedWaves, settle } from './wave-groups';

async function load(rollouts: RolloutStore, rolloutId: string): Promise<Rollout> {
  const rollout = await rollouts.getRollout(rolloutId);
  if (!rollout) throw new RolloutNotFoundError(rolloutId);
  return rollout;
}

const withWave = (rollout: Rollout, index: number, change: Partial<Wave>): Wave[] =>
  rollout.waves.map((w) => (w.index === index ? { ...w, ...change } : w));

/**
 * Writes one piece of a started rollout's plan: its executions, and the claims on their devices.
 * Says which piece comes next (none: all are written). Stops early once the rollout is no longer
 * active (aborted while it was being written).
 */
export const makeWriteExecutions =
  ({ rollouts, plans }: { rollouts: RolloutStore; plans: RolloutPlanStore }) =>
  async (rolloutId: string, piece: number): Promise<{ written: number; next: number | null }> => {
    const rollout = await load(rollouts, rolloutId);
    const pieces = rollout.planPieces ?? 0;
    if (!ACTIVE_ROLLOUT_STATUSES.includes(rollout.status) || piece >= pieces)
      return { written: 0, next: null };
    const executions = await plans.getPiece(rolloutId, piece);
    await rollouts.addExecutions(rolloutId, executions);
    return { written: executions.length, next: piece + 1 < pieces ? piece + 1 : null };
  };

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
 * 2. records the wave as running under its job id;
 * 3. makes the grouping its job will target. Its devices join it a page at a time
 *    (`makeAddWaveDevices`), then the job is created (`makeCreateWaveJob`).
 */
export const makeStartWave =
  (ports: { rollouts: RolloutStore; jobs: JobDispatcher; clock: Clock }) =>
  async (
    rolloutId: string,
    waveIndex: number,
  ): Promise<{ started: boolean; jobId: string; cursor: null }> => {
    const { rollouts, jobs, clock } = ports;
    const jobId = jobIdOf(rolloutId, waveIndex);
    const rollout = await load(rollouts, rolloutId);
    // A pause asked for just now lets this wave run and holds the next one.
    if (rollout.status !== 'running' && rollout.status !== 'pausing')
      return { started: false, jobId, cursor: null };
    const wave = rollout.waves[waveIndex];
    if (wave?.status !== 'running') {
      await rollouts.transition(rolloutId, ['running', 'pausing'], {
        currentWave: waveIndex,
        waves: withWave(rollout, waveIndex, {
          status: 'running',
          jobId,
          startedAt: clock.now().toISOString(),
        }),
      });
    }
    await jobs.prepareWave(jobId);
    // The first page of its devices starts at no cursor.
    return { started: true, jobId, cursor: null };
  };

/** Devices one `add-wave-devices` step puts into its wave's grouping: bounded work per invocation. */
export const WAVE_DEVICES_PER_STEP = 500;

/**
 * Puts one page of a wave's devices into the wave's grouping and says where the next page starts
 * (none: all are in, or the rollout stopped running meanwhile). Adding a device twice is
 * harmless, so a retried page is too.
 */
export const makeAddWaveDevices =
  ({
    rollouts,
    jobs,
    pageSize = WAVE_DEVICES_PER_STEP,
  }: {
    rollouts: RolloutStore;
    jobs: JobDispatcher;
    pageSize?: number;
  }) =>
  async (
    rolloutId: string,
    waveIndex: number,
    cursor?: string,
  ): Promise<{ added: number; cursor?: string }> => {
    const rollout = await load(rollouts, rolloutId);
    if (rollout.status !== 'running' && rollout.status !== 'pausing') return { added: 0 };
    const page = await rollouts.pageExecutions(rolloutId, { waveIndex, limit: pageSize, cursor });
    await jobs.addToWave(
      jobIdOf(rolloutId, waveIndex),
      page.items.map((e) => e.deviceId),
    );
    return { added: page.items.length, ...(page.nextCursor ? { cursor: page.nextCursor } : {}) };
  };

export interface JobDocumentSettings {
  /** Seconds the device keeps the new slot on trial before confirming it. */
  readonly healthCheckSeconds: number;
}

/**
 * Creates a wave's one IoT job, for the devices now in its grouping. Its document names, per
 * hardware type and component, the signed image target (or, for a rollback, the downgrade signed
 * for this rollout) and the ready deltas to it, with where to fetch them and every TUF metadata
 * file a device may need: the roots after the first, and the current timestamp, snapshot and
 * targets. A v2-compatible release goes out as `edgeops.ota.v2`, every other as `edgeops.ota.v3`
 * (jobDocumentOf). Skipped if the rollout stopped running meanwhile.
 */
export const makeCreateWaveJob =
  (ports: {
    rollouts: RolloutStore;
    releases: ReleaseCatalog;
    deltas: DeltaStore;
    trust: { store: TrustStore; files: TrustFiles };
    jobs: JobDispatcher;
    settings: JobDocumentSettings;
  }) =>
  async (rolloutId: string, waveIndex: number): Promise<{ started: boolean; jobId: string }> => {
    const { rollouts, releases, jobs, settings, trust } = ports;
    const jobId = jobIdOf(rolloutId, waveIndex);
    const rollout = await load(rollouts, rolloutId);
    if (rollout.status !== 'running' && rollout.status !== 'pausing') return { started: false, jobId };
    const release = await releases.getRelease(rollout.releaseId);
    if (!release) throw new Error(`Release ${rollout.releaseId} of rollout ${rolloutId} is gone`);
    const trustState = await trust.store.getState();
    if (!trustState?.versions) throw new Error('The release trust repository has never been published');
    const deltas = (await ports.deltas.listDeltas(release.releaseId)).filter(
      (d) => d.status === 'ready' && d.s3Key,
    );
    const metadata: Record<string, string> = {};
    for (let v = 2; v <= trustState.rootVersion; v++)
      metadata[rootFileName(v)] = trust.files.location(rootFileName(v));
    for (const name of ['timestamp.json', 'snapshot.json', 'targets.json'])
      metadata[name] = trust.files.location(name);
    const document = jobDocumentOf({
      rolloutId,
      waveIndex,
      operation: rollout.operation,
      release,
      deltas,
      metadata,
      healthCheckSeconds: settings.healthCheckSeconds,
    });
    await jobs.startJob(jobId, document);
    // An abort that came while the job was being made has already cleaned up; do it again for
    // the job (and the group it re-made) that it could not see.
    const now = await load(rollouts, rolloutId);
    if (now.status !== 'running' && now.status !== 'pausing') {
      await jobs.cancelJob(jobId, `rollout ${now.status}`);
      await jobs.endWave(jobId);
      return { started: false, jobId };
    }
    return { started: true, jobId };
  };

/** Deltas offered per image: what the job document allows (contract/ota.ts). */
const MAX_DELTA_OFFERS = 8;

/**
 * A wave's job document. Per hardware type and component: the signed image target (a rollback's
 * own for a rollback rollout), its location, and the ready deltas to that image, at most 8, in the
 * order recorded. A v2-compatible release (domain/release.ts isV2Compatible) is an
 * `edgeops.ota.v2` document with one image per hardware type, as every agent takes; every other
 * release is `edgeops.ota.v3`, its components in install order, with download limits where the
 * release has them.
 */
export function jobDocumentOf(input: {
  readonly rolloutId: string;
  readonly waveIndex: number;
  readonly operation: 'install' | 'rollback';
  readonly release: ReleaseForRollout;
  readonly deltas: readonly Delta[];
  readonly metadata: Readonly<Record<string, string>>;
  readonly healthCheckSeconds: number;
}): JobDocument {
  const { rolloutId, operation, release } = input;
  const entry = (hardwareType: string, c: ReleaseComponent) => {
    const paths = targetPathsOf(release, c.name);
    return {
      target:
        operation === 'rollback'
          ? paths.rollback(rolloutId, hardwareType)
          : paths.image(release.releaseId, hardwareType),
      url: `s3://${c.bucket}/${c.key}`,
      deltas: input.deltas
        .filter(
          (d) =>
            d.hardwareType === hardwareType &&
            d.component === c.name &&
            d.imageSha256 === c.sha256 &&
            d.status === 'ready' &&
            d.s3Key,
        )
        .slice(0, MAX_DELTA_OFFERS)
        .map((d) => ({
          baseSha256: d.baseSha256,
          target: paths.delta(release.releaseId, hardwareType, d.baseSha256),
          url: `s3://${c.bucket}/${d.s3Key}`,
        })),
    };
  };
  const hardwareTypes = Object.entries(release.components);
  const common = {
    rolloutId,
    waveIndex: input.waveIndex,
    operation,
    release: { releaseId: release.releaseId, version: release.version },
    trust: { metadata: { ...input.metadata } },
  };
  const { healthCheckSeconds } = input;
  if (isV2Compatible(release)) {
    return {
      schema: 'edgeops.ota.v2',
      ...common,
      artifacts: hardwareTypes.flatMap(([hardwareType, [image]]) =>
        image ? [{ hardwareType, ...entry(hardwareType, image) }] : [],
      ),
      healthCheckSeconds,
    };
  }
  const artifacts: JobDocumentV3['artifacts'] = hardwareTypes.map(([hardwareType, components]) => {
    const download = release.downloadLimits?.[hardwareType];
    return {
      hardwareType,
      components: [...components]
        .sort((a, b) => a.order - b.order)
        .map((c) => ({ name: c.name, ...entry(hardwareType, c) })),
      ...(download === undefined ? {} : { download }),
    };
  });
  return { schema: 'edgeops.ota.v3', ...common, artifacts, healthCheckSeconds };
}

export type WaveCheck =
  | {
      readonly outcome: 'running' | 'settled' | 'passed';
      readonly tally: WaveTally;
      readonly requireApproval: boolean;
    }
  | { readonly outcome: 'failed'; readonly tally: WaveTally; readonly reason: string }
  | { readonly outcome: 'stopped' };

/** Failed devices a halt reason names. */
const NAMED_FAILURES = 5;

/**
 * Checks a running wave (`progress`) or, after its soak, gates it (`gate`), and records the
 * wave's status: settled → soaking, passed, failed. It reads the rollout and the waves' counters
 * (and, only when devices failed, a few of them to name): the same few items at any wave size.
 * A wave with telemetry gates that passed the count is then held to them (gate-telemetry.ts:
 * at most 18 bounded reads), and what they found is recorded on the wave.
 * Once the wave's deadline passes with devices still in flight, they count as failed and the
 * wave's job stops handing out executions that have not started.
 */
export const makeCheckWave =
  ({
    rollouts,
    jobs,
    clock,
    waveTimeoutMinutes,
    telemetry,
  }: {
    rollouts: RolloutStore;
    jobs: JobDispatcher;
    clock: Clock;
    /** After this long, devices of a wave with no result count as failed. */
    waveTimeoutMinutes: number;
    /** Latest device telemetry, for waves with telemetry gates. */
    telemetry?: TelemetryBaseline;
  }) =>
  async (rolloutId: string, waveIndex: number, phase: 'progress' | 'gate'): Promise<WaveCheck> => {
    const rollout = await load(rollouts, rolloutId);
    const wave = rollout.waves[waveIndex];
    if (!wave || !['running', 'pausing', 'paused'].includes(rollout.status)) return { outcome: 'stopped' };
    const counts = (await rollouts.waveCounts(rolloutId))[waveIndex];
    if (!counts) throw new Error(`Wave ${waveIndex} of rollout ${rolloutId} has no counters`);
    const tally = tallyOf(counts);
    const sample: FailedSample =
      tally.failures > 0 ? await rollouts.failedSample(rolloutId, waveIndex, NAMED_FAILURES) : [];
    const now = clock.now();
    const deadline = wave.startedAt
      ? new Date(Date.parse(wave.startedAt) + waveTimeoutMinutes * 60_000)
      : undefined;
    const missedDeadline = deadline !== undefined && now >= deadline && tally.inFlight > 0;
    let verdict: WaveVerdict =
      phase === 'progress'
        ? progressOfWave(wave, tally, sample, now, deadline)
        : gateWave(wave, tally, sample);
    let gateResults: readonly GateResult[] | undefined;
    if (phase === 'gate' && verdict.outcome === 'passed' && (wave.gates?.length ?? 0) > 0) {
      if (!telemetry)
        throw new Error(
          `Wave ${waveIndex} of rollout ${rolloutId} has telemetry gates but no telemetry to check them against`,
        );
      const checked = await checkTelemetryGates({ rollouts, telemetry }, rollout, wave, now);
      gateResults = checked.results;
      // The updated devices' first window on the new version may still be on its way (a soak
      // shorter than a window, or a slow link): look again at the next poll, up to the deadline.
      const mayWait = deadline === undefined || now < deadline;
      if (checked.outcome === 'failed' && checked.awaitingUpdatedTelemetry && mayWait)
        verdict = { outcome: 'settled', tally: verdict.tally };
      else if (checked.outcome === 'failed')
        verdict = { outcome: 'failed', tally: verdict.tally, reason: checked.reason };
    }
    const status = { settled: 'soaking', passed: 'passed', failed: 'failed', running: undefined }[
      verdict.outcome
    ];
    if ((status && status !== wave.status) || (missedDeadline && !wave.deadlinePassed)) {
      await rollouts.transition(rolloutId, ['running', 'pausing', 'paused'], {
        waves: withWave(rollout, waveIndex, {
          ...(status ? { status: status as Wave['status'] } : {}),
          ...(status === 'soaking' && !wave.soakStartedAt ? { soakStartedAt: now.toISOString() } : {}),
          ...(status && status !== 'soaking' ? { endedAt: now.toISOString() } : {}),
          ...(missedDeadline ? { deadlinePassed: true } : {}),
          ...(gateResults ? { gateResults } : {}),
        }),
      });
    }
    if (missedDeadline && !wave.deadlinePassed && wave.jobId)
      await jobs.cancelJob(wave.jobId, 'no result by the wave deadline');
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
 * 1. records the outcome; a halt marks the waves that had not ended canceled. The rollout's
 *    devices are free at once: a claim counts only while its rollout is active;
 * 2. a halt cancels what the current wave's job has not started (running executions finish);
 * 3. ends the grouping of every wave that started;
 * 4. with the rollback policy, a halt sends the devices already updated back where they were
 *    (once: a second rollback of the same rollout is refused while the first runs).
 * Cleanup that fails fails the step after trying all of it; the retry finds the outcome recorded
 * and repeats only what is idempotent. A rollout that ended otherwise meanwhile is left alone.
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
    let finished = rollout;
    if (ACTIVE_ROLLOUT_STATUSES.includes(rollout.status)) {
      finished = await rollouts.transition(rolloutId, ACTIVE_ROLLOUT_STATUSES, {
        status: result.outcome,
        waves: rollout.waves.map((w) =>
          result.outcome === 'halted' && ['pending', 'running', 'soaking'].includes(w.status)
            ? { ...w, status: 'canceled' as const }
            : w,
        ),
        ...(result.outcome === 'halted' ? { haltReason: result.reason } : {}),
      });
    } else if (rollout.status !== result.outcome) {
      return rollout;
    }
    const problems = await settle([
      ...(result.outcome === 'halted' ? cancelCurrentJob(jobs, finished, 'rollout halted') : []),
      ...endStartedWaves(jobs, finished),
    ]);
    if (result.outcome === 'halted' && finished.failurePolicy === 'rollback') {
      try {
        await ports.rollback(rolloutId, 'edgeops (rollback policy)');
      } catch (error) {
        if (!(error instanceof RolloutStateError)) throw error;
      }
    }
    if (problems.length > 0)
      throw new CleanupIncompleteError(
        `Rollout ${rolloutId} ${result.outcome}, but cleanup failed: ${problems.join('; ')}`,
      );
    return finished;
  };
