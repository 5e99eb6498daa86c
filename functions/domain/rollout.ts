/**
 * A rollout: one release going to a target, wave by wave. A wave advances only when its devices
 * came back healthy on the new version and stayed healthy through the soak time, not when their
 * jobs merely said "succeeded".
 */
import { OTA_STAGES, type OtaStage } from './ota-contract';
import type { WaveSize } from './wave-plan';

export type RolloutStatus =
  | 'running'
  | 'pausing'
  | 'paused'
  | 'awaiting-approval'
  | 'succeeded'
  | 'halted'
  | 'aborted';

export const ACTIVE_ROLLOUT_STATUSES: readonly RolloutStatus[] = [
  'running',
  'pausing',
  'paused',
  'awaiting-approval',
];

export type RolloutTarget =
  | { readonly thingGroup: string }
  | { readonly deviceIds: readonly string[] }
  | {
      readonly filter: {
        readonly site?: string;
        readonly region?: string;
        readonly hardwareType?: string;
        readonly currentVersion?: string;
      };
    };

export interface WaveSpec {
  readonly size: WaveSize;
  /** Seconds the wave's devices must stay healthy after the last of them finished. */
  readonly soakSeconds: number;
  /** Percent (0–100) of the wave's devices that must end healthy on the new version. */
  readonly successThreshold: number;
  /** Failed devices the wave tolerates; one more halts the rollout. */
  readonly maxFailures: number;
  /** Wait for an operator's approval before the next wave starts. */
  readonly requireApproval: boolean;
}

export type WaveStatus = 'pending' | 'running' | 'soaking' | 'passed' | 'failed' | 'canceled';

export interface Wave extends WaveSpec {
  readonly index: number;
  readonly deviceCount: number;
  readonly status: WaveStatus;
  readonly jobId?: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
}

/** What to do with devices already updated when a wave fails. */
export type FailurePolicy = 'halt' | 'rollback';

export interface Rollout {
  readonly rolloutId: string;
  readonly releaseId: string;
  readonly version: string;
  readonly operation: 'install' | 'rollback';
  readonly target: RolloutTarget;
  readonly failurePolicy: FailurePolicy;
  readonly status: RolloutStatus;
  readonly waves: readonly Wave[];
  /** Index of the wave in progress or last finished; -1 before the first starts. */
  readonly currentWave: number;
  readonly createdAt: string;
  readonly createdBy: string;
  readonly haltReason?: string;
  readonly excludedCount: number;
  /** For a rollback rollout, the rollout it undoes. */
  readonly rollbackOf?: string;
}

/** Job execution statuses AWS IoT reports that end a device's part in a wave as a failure. */
export const FAILED_JOB_STATUSES = ['FAILED', 'REJECTED', 'TIMED_OUT'] as const;
export type JobExecutionStatus =
  | 'QUEUED'
  | 'IN_PROGRESS'
  | 'SUCCEEDED'
  | 'CANCELED'
  | 'REMOVED'
  | (typeof FAILED_JOB_STATUSES)[number];

/** One device's part in one rollout. */
export interface DeviceExecution {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly waveIndex: number;
  readonly hardwareType: string;
  readonly site: string;
  /** What the device ran when the rollout was planned: where a rollback takes it back to. */
  readonly fromVersion?: string;
  /** Latest stage the device reported; `pending` before its wave starts. */
  readonly stage: OtaStage | 'pending';
  readonly runningVersion?: string;
  readonly healthySince?: string;
  readonly reason?: string;
  readonly lastSeq: number;
  /** Bytes the device fetched for this update so far (image or delta), as it last reported. */
  readonly bytesDownloaded?: number;
  /** How the image came, in full or as a delta, and the full image's size, as last reported. */
  readonly transfer?: { readonly mode: 'full' | 'delta'; readonly imageBytes: number };
}

export type DeviceOutcome = 'success' | 'failure' | 'in-flight';

/**
 * A device succeeded only if it reported healthy, on the target version, and has stayed so for
 * `soakSeconds` by `now`. Its job failing, rejecting or timing out, or the device rolling back or
 * failing, is a failure — whatever the job says.
 */
export function deviceOutcome(
  execution: DeviceExecution,
  jobStatus: JobExecutionStatus | undefined,
  targetVersion: string,
  soakSeconds: number,
  now: Date,
): DeviceOutcome {
  if (execution.stage === 'failed' || execution.stage === 'rolled-back') return 'failure';
  if (jobStatus !== undefined && (FAILED_JOB_STATUSES as readonly string[]).includes(jobStatus))
    return 'failure';
  if (execution.stage === 'healthy' && execution.runningVersion === targetVersion && execution.healthySince) {
    const soakedUntil = Date.parse(execution.healthySince) + soakSeconds * 1000;
    return soakedUntil <= now.getTime() ? 'success' : 'in-flight';
  }
  if (jobStatus === 'CANCELED' || jobStatus === 'REMOVED') return 'failure';
  return 'in-flight';
}

export type WaveVerdict =
  | { readonly outcome: 'running' | 'settled'; readonly tally: WaveTally }
  | { readonly outcome: 'passed'; readonly tally: WaveTally }
  | { readonly outcome: 'failed'; readonly tally: WaveTally; readonly reason: string };

export interface WaveTally {
  readonly size: number;
  readonly successes: number;
  readonly failures: number;
  readonly inFlight: number;
  readonly failedDevices: readonly { readonly deviceId: string; readonly reason: string }[];
}

function tallyWave(
  wave: Pick<Wave, 'index'>,
  executions: readonly DeviceExecution[],
  jobStatuses: ReadonlyMap<string, JobExecutionStatus>,
  targetVersion: string,
  soakSeconds: number,
  now: Date,
): WaveTally {
  let successes = 0;
  let inFlight = 0;
  const failedDevices: { deviceId: string; reason: string }[] = [];
  for (const execution of executions) {
    if (execution.waveIndex !== wave.index) continue;
    const jobStatus = jobStatuses.get(execution.deviceId);
    const outcome = deviceOutcome(execution, jobStatus, targetVersion, soakSeconds, now);
    if (outcome === 'success') successes++;
    else if (outcome === 'in-flight') inFlight++;
    else
      failedDevices.push({
        deviceId: execution.deviceId,
        reason: execution.reason ?? jobStatus ?? execution.stage,
      });
  }
  return {
    size: successes + inFlight + failedDevices.length,
    successes,
    failures: failedDevices.length,
    inFlight,
    failedDevices,
  };
}

function tooManyFailures(wave: WaveSpec & { index: number }, tally: WaveTally): string | undefined {
  if (tally.failures <= wave.maxFailures) return undefined;
  const examples = tally.failedDevices
    .slice(0, 5)
    .map((f) => `${f.deviceId}: ${f.reason}`)
    .join(', ');
  return `Wave ${wave.index + 1}: ${tally.failures} device(s) failed, more than the ${wave.maxFailures} allowed (${examples})`;
}

/**
 * While a wave runs: `failed` as soon as failures exceed the limit, `settled` once no device is
 * in flight any more (healthy ones then soak), `running` otherwise. Past `deadline`, devices
 * still in flight (e.g. offline, their execution never started) count as failed.
 */
export function progressOfWave(
  wave: Wave,
  executions: readonly DeviceExecution[],
  jobStatuses: ReadonlyMap<string, JobExecutionStatus>,
  targetVersion: string,
  now: Date,
  deadline?: Date,
): WaveVerdict {
  let tally = tallyWave(wave, executions, jobStatuses, targetVersion, 0, now);
  if (deadline && now >= deadline && tally.inFlight > 0) {
    const late = executions.filter(
      (e) =>
        e.waveIndex === wave.index &&
        deviceOutcome(e, jobStatuses.get(e.deviceId), targetVersion, 0, now) === 'in-flight',
    );
    tally = {
      ...tally,
      inFlight: 0,
      failures: tally.failures + late.length,
      failedDevices: [
        ...tally.failedDevices,
        ...late.map((e) => ({
          deviceId: e.deviceId,
          reason: `no result by the wave deadline (last stage ${e.stage})`,
        })),
      ],
    };
  }
  const reason = tooManyFailures(wave, tally);
  if (reason) return { outcome: 'failed', tally, reason };
  return { outcome: tally.inFlight === 0 ? 'settled' : 'running', tally };
}

/**
 * After the soak: the wave passes when enough devices are still healthy on the new version and
 * failures stayed within the limit. The orchestrator's timer measured the soak (so tests can
 * shorten it); a device that failed or rolled back during it no longer counts as healthy.
 */
export function gateWave(
  wave: Wave,
  executions: readonly DeviceExecution[],
  jobStatuses: ReadonlyMap<string, JobExecutionStatus>,
  targetVersion: string,
  now: Date,
): WaveVerdict {
  const tally = tallyWave(wave, executions, jobStatuses, targetVersion, 0, now);
  const reason = tooManyFailures(wave, tally);
  if (reason) return { outcome: 'failed', tally, reason };
  const healthyPercent = tally.size === 0 ? 0 : (tally.successes / tally.size) * 100;
  if (healthyPercent + 1e-9 < wave.successThreshold) {
    return {
      outcome: 'failed',
      tally,
      reason: `Wave ${wave.index + 1}: ${tally.successes} of ${tally.size} devices healthy after the soak (${healthyPercent.toFixed(1)}%), below the ${wave.successThreshold}% required`,
    };
  }
  return { outcome: 'passed', tally };
}

export type FunnelStage = OtaStage | 'pending';
export const FUNNEL_STAGES: readonly FunnelStage[] = ['pending', ...OTA_STAGES];

/** Devices per stage, for each wave. A failed job execution counts as `failed`. */
export function funnelOf(
  waveCount: number,
  executions: readonly DeviceExecution[],
  jobStatuses: ReadonlyMap<string, JobExecutionStatus> = new Map(),
): Record<FunnelStage, number>[] {
  const funnels = Array.from(
    { length: waveCount },
    () => Object.fromEntries(FUNNEL_STAGES.map((s) => [s, 0])) as Record<FunnelStage, number>,
  );
  for (const execution of executions) {
    const funnel = funnels[execution.waveIndex];
    if (!funnel) continue;
    const jobStatus = jobStatuses.get(execution.deviceId);
    const failedJob =
      jobStatus !== undefined && (FAILED_JOB_STATUSES as readonly string[]).includes(jobStatus);
    const stage: FunnelStage =
      failedJob && execution.stage !== 'rolled-back' && execution.stage !== 'healthy'
        ? 'failed'
        : execution.stage;
    funnel[stage]++;
  }
  return funnels;
}
