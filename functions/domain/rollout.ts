/**
 * A rollout: one release going to a target, wave by wave. A wave advances only when its devices
 * came back healthy on the new version and stayed healthy through the soak time, not when their
 * jobs merely said "succeeded".
 */
import type { JobExecutionStatus } from '../../contract/iot-jobs';
import { OTA_STAGES, type OtaStage } from '../../contract/ota-names';
import type { GateResult, TelemetryGate } from './telemetry-gate';
import type { WaveSize } from './wave-plan';

export type RolloutStatus =
  | 'running'
  | 'pausing'
  | 'paused'
  | 'awaiting-approval'
  | 'succeeded'
  | 'halted'
  | 'aborted'
  /** Its run broke (a step failed after its retries): `haltReason` says how. */
  | 'failed';

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
  /**
   * Metric gates checked after the soak, once the count passed: updated devices against devices
   * of their cohort still on the old version (domain/telemetry-gate.ts).
   */
  readonly gates?: readonly TelemetryGate[];
}

export type WaveStatus = 'pending' | 'running' | 'soaking' | 'passed' | 'failed' | 'canceled';

export interface Wave extends WaveSpec {
  readonly index: number;
  readonly deviceCount: number;
  readonly status: WaveStatus;
  readonly jobId?: string;
  readonly startedAt?: string;
  /** When its last device settled and the soak began: telemetry gates count windows from here. */
  readonly soakStartedAt?: string;
  readonly endedAt?: string;
  /** Set once the wave's deadline passed with devices still in flight: they count as failed. */
  readonly deadlinePassed?: boolean;
  /** What its telemetry gates found at its gate, one result per gate. */
  readonly gateResults?: readonly GateResult[];
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
  /** How many pieces its plan was written in (RolloutPlanStore). */
  readonly planPieces?: number;
  /** The versions its devices ran when it started, per hardware type, most devices first. */
  readonly bases?: readonly RolloutBase[];
}

export interface RolloutBase {
  readonly hardwareType: string;
  readonly fromVersion: string;
  readonly devices: number;
}

/** Base versions a rollout item keeps: delta planning needs the most common ones only. */
const MAX_BASES = 64;

/** How many devices run each (hardware type, version), most first: what delta planning needs. */
export function basesOf(
  executions: readonly Pick<DeviceExecution, 'hardwareType' | 'fromVersion'>[],
): RolloutBase[] {
  const counts = new Map<string, RolloutBase>();
  for (const { hardwareType, fromVersion } of executions) {
    if (fromVersion === undefined) continue;
    const key = JSON.stringify([hardwareType, fromVersion]);
    const seen = counts.get(key);
    counts.set(key, { hardwareType, fromVersion, devices: (seen?.devices ?? 0) + 1 });
  }
  return [...counts.values()].sort((a, b) => b.devices - a.devices).slice(0, MAX_BASES);
}

/** The one IoT job of a rollout's wave. */
export const jobIdOf = (rolloutId: string, waveIndex: number) => `${rolloutId}-w${waveIndex}`;

/** The wave index a job id names, if the job belongs to `rolloutId`. */
export function waveOfJob(rolloutId: string, jobId: string): number | undefined {
  const match = /^(.+)-w(\d{1,3})$/.exec(jobId);
  return match && match[1] === rolloutId ? Number(match[2]) : undefined;
}

/** Job execution statuses AWS IoT reports that end a device's part in a wave as a failure. */
export const FAILED_JOB_STATUSES = [
  'FAILED',
  'REJECTED',
  'TIMED_OUT',
] as const satisfies readonly JobExecutionStatus[];
export type { JobExecutionStatus };

/** One device's part in one rollout. */
export interface DeviceExecution {
  readonly rolloutId: string;
  readonly deviceId: string;
  readonly waveIndex: number;
  /** The version the rollout takes the device to: healthy counts only on it. */
  readonly targetVersion?: string;
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
  /** The last final (or TIMED_OUT) status AWS IoT reported for the device's job execution. */
  readonly jobStatus?: JobExecutionStatus;
}

/** A wave's devices by verdict, from its counters. */
export interface WaveTally {
  readonly size: number;
  readonly successes: number;
  readonly failures: number;
  readonly inFlight: number;
}

/** A few failed devices of a wave, to name in a halt reason (never the whole list). */
export type FailedSample = readonly { readonly deviceId: string; readonly reason: string }[];

export type WaveVerdict =
  | { readonly outcome: 'running' | 'settled' | 'passed'; readonly tally: WaveTally }
  | { readonly outcome: 'failed'; readonly tally: WaveTally; readonly reason: string };

/** Verdicts from a wave's funnel: healthy (on the target version) is a success. */
export function tallyOf(funnel: Readonly<Record<FunnelStage, number>>): WaveTally {
  const successes = funnel.healthy;
  const failures = funnel.failed + funnel['rolled-back'];
  const inFlight = IN_FLIGHT_STAGES.reduce((n, s) => n + funnel[s], 0);
  return { size: successes + failures + inFlight, successes, failures, inFlight };
}

function tooManyFailures(wave: WaveSpec & { index: number }, tally: WaveTally, sample: FailedSample) {
  if (tally.failures <= wave.maxFailures) return undefined;
  // The sample is read after the counters and may already hold a later failure: name no more
  // devices than the count says.
  const examples = sample
    .slice(0, Math.min(5, tally.failures))
    .map((f) => `${f.deviceId}: ${f.reason}`)
    .join(', ');
  return `Wave ${wave.index + 1}: ${tally.failures} device(s) failed, more than the ${wave.maxFailures} allowed${examples ? ` (${examples})` : ''}`;
}

/**
 * While a wave runs: `failed` as soon as failures exceed the limit, `settled` once no device is
 * in flight any more (healthy ones then soak), `running` otherwise. Past `deadline`, devices
 * still in flight (e.g. offline, their execution never started) count as failed.
 */
export function progressOfWave(
  wave: Wave,
  tally: WaveTally,
  sample: FailedSample,
  now: Date,
  deadline?: Date,
): WaveVerdict {
  const late = deadline && now >= deadline ? tally.inFlight : 0;
  const counted = { ...tally, inFlight: tally.inFlight - late, failures: tally.failures + late };
  const reason = tooManyFailures(wave, counted, sample);
  if (reason) {
    const lateNote = late > 0 ? `; ${late} of them had no result by the wave deadline` : '';
    return { outcome: 'failed', tally: counted, reason: `${reason}${lateNote}` };
  }
  return { outcome: counted.inFlight === 0 ? 'settled' : 'running', tally: counted };
}

/**
 * After the soak: the wave passes when enough devices are still healthy on the new version and
 * failures stayed within the limit. The orchestrator's timer measured the soak (so tests can
 * shorten it); a device that failed or rolled back during it no longer counts as healthy. Devices
 * still in flight once the wave's deadline passed count as failed.
 */
export function gateWave(wave: Wave, tally: WaveTally, sample: FailedSample): WaveVerdict {
  const late = wave.deadlinePassed ? tally.inFlight : 0;
  const counted = { ...tally, inFlight: tally.inFlight - late, failures: tally.failures + late };
  const reason = tooManyFailures(wave, counted, sample);
  if (reason) return { outcome: 'failed', tally: counted, reason };
  const healthyPercent = counted.size === 0 ? 0 : (counted.successes / counted.size) * 100;
  if (healthyPercent + 1e-9 < wave.successThreshold) {
    return {
      outcome: 'failed',
      tally: counted,
      reason: `Wave ${wave.index + 1}: ${counted.successes} of ${counted.size} devices healthy after the soak (${healthyPercent.toFixed(1)}%), below the ${wave.successThreshold}% required`,
    };
  }
  return { outcome: 'passed', tally: counted };
}

export type FunnelStage = OtaStage | 'pending';
export const FUNNEL_STAGES: readonly FunnelStage[] = ['pending', ...OTA_STAGES];
/** Stages with no verdict yet. */
export const IN_FLIGHT_STAGES: readonly FunnelStage[] = [
  'pending',
  'queued',
  'downloading',
  'installing',
  'rebooting',
];

/**
 * How a wave's stored bucket reads to an operator: a started wave has no `pending` devices (its
 * job holds them all: `queued`), and once its deadline passed, devices still in flight are
 * `failed`.
 */
export function displayedStage(
  wave: Pick<Wave, 'startedAt' | 'deadlinePassed'> | undefined,
  bucket: FunnelStage,
): FunnelStage {
  if (!wave || !IN_FLIGHT_STAGES.includes(bucket)) return bucket;
  if (wave.deadlinePassed) return 'failed';
  return bucket === 'pending' && wave.startedAt !== undefined ? 'queued' : bucket;
}

/** A wave's funnel as an operator sees it (see displayedStage), from its stored buckets. */
export function displayedFunnel(
  wave: Pick<Wave, 'startedAt' | 'deadlinePassed'>,
  buckets: Readonly<Record<FunnelStage, number>>,
): Record<FunnelStage, number> {
  const funnel = Object.fromEntries(FUNNEL_STAGES.map((s) => [s, 0])) as Record<FunnelStage, number>;
  for (const stage of FUNNEL_STAGES) funnel[displayedStage(wave, stage)] += buckets[stage];
  return funnel;
}
