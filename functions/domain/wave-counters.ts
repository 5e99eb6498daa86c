/**
 * Per-wave counters, kept by the event path so that reading a wave costs the same at 10 devices
 * and at 100k. Every execution contributes a fixed set of numbers to its wave (one funnel bucket
 * and its transfer bytes); an event that changes an execution adds the difference between its
 * contribution after and before, in the same atomic write that changes the execution. A retried
 * or duplicated event changes nothing, so neither do the counters.
 */
import type { OtaEventV1 } from '../../contract/ota';
import {
  type DeviceExecution,
  FAILED_JOB_STATUSES,
  FUNNEL_STAGES,
  type FunnelStage,
  IN_FLIGHT_STAGES,
  type JobExecutionStatus,
} from './rollout';

/** Job statuses that end a device's execution for good; TIMED_OUT may still be retried once. */
const FINAL_JOB_STATUSES: readonly JobExecutionStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'REJECTED',
  'CANCELED',
  'REMOVED',
];

/**
 * Where an execution counts in its wave's funnel. The device's own terminal verdicts win; then a
 * job that failed or was rejected; then healthy on the target version; then a job that timed out,
 * was canceled or removed (the device never finished); else the stage the device last reported.
 * A device that says healthy on another version has not arrived yet: it counts as `rebooting`.
 */
export function bucketOf(
  execution: Pick<DeviceExecution, 'stage' | 'jobStatus' | 'runningVersion' | 'targetVersion'>,
): FunnelStage {
  const { stage, jobStatus } = execution;
  if (stage === 'failed' || stage === 'rolled-back') return stage;
  if (jobStatus === 'FAILED' || jobStatus === 'REJECTED') return 'failed';
  if (stage === 'healthy') {
    const onTarget =
      execution.targetVersion === undefined || execution.runningVersion === execution.targetVersion;
    return onTarget ? 'healthy' : 'rebooting';
  }
  if (jobStatus !== undefined && (FAILED_JOB_STATUSES as readonly string[]).includes(jobStatus))
    return 'failed';
  if (jobStatus === 'CANCELED' || jobStatus === 'REMOVED') return 'failed';
  return stage;
}

export const COUNTER_NAMES = [
  ...FUNNEL_STAGES,
  'bytesSent',
  'bytesSaved',
  'deltaDevices',
  'fullDevices',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];
export type WaveCounts = Readonly<Record<CounterName, number>>;

export const emptyCounts = (): Record<CounterName, number> =>
  Object.fromEntries(COUNTER_NAMES.map((n) => [n, 0])) as Record<CounterName, number>;

/** Stages a device reaches only after its download completed. */
const PAST_DOWNLOAD: readonly FunnelStage[] = ['installing', 'rebooting', 'healthy', 'rolled-back'];

/**
 * What one execution adds to its wave's counters: 1 in its bucket, the bytes it fetched, and for
 * a delta that got past downloading, the bytes the delta saved (image size − bytes fetched; not
 * clamped, so a device that fetched more than the image lowers it).
 */
export function contributionOf(execution: DeviceExecution): Partial<Record<CounterName, number>> {
  const { bytesDownloaded, transfer } = execution;
  const bucket = bucketOf(execution);
  const tookDelta = transfer?.mode === 'delta';
  return {
    [bucket]: 1,
    bytesSent: bytesDownloaded ?? 0,
    bytesSaved:
      tookDelta && PAST_DOWNLOAD.includes(execution.stage) && bytesDownloaded !== undefined
        ? transfer.imageBytes - bytesDownloaded
        : 0,
    deltaDevices: tookDelta ? 1 : 0,
    fullDevices: transfer?.mode === 'full' ? 1 : 0,
  };
}

/** The counters of a wave holding exactly `executions` (as written when a rollout starts). */
export function countsOf(executions: readonly DeviceExecution[]): Record<CounterName, number> {
  const counts = emptyCounts();
  for (const e of executions)
    for (const [name, n] of Object.entries(contributionOf(e)) as [CounterName, number][]) counts[name] += n;
  return counts;
}

/** The counters of each of `waveCount` waves holding `executions`. */
export const countsByWave = (waveCount: number, executions: readonly DeviceExecution[]) =>
  Array.from({ length: waveCount }, (_, i) => countsOf(executions.filter((e) => e.waveIndex === i)));

/** The counter changes (non-zero only) that moving an execution from `before` to `after` makes. */
export function counterDelta(
  before: DeviceExecution,
  after: DeviceExecution,
): Partial<Record<CounterName, number>> {
  const a = contributionOf(before);
  const b = contributionOf(after);
  const delta: Partial<Record<CounterName, number>> = {};
  for (const name of COUNTER_NAMES) {
    const d = (b[name] ?? 0) - (a[name] ?? 0);
    if (d !== 0) delta[name] = d;
  }
  return delta;
}

/**
 * The execution after a device's OTA event, or undefined if the event is stale (its seq is not
 * newer than the last one applied). A device working on its job again after a TIMED_OUT (the job's
 * one retry) is no longer counted as timed out.
 */
export function withOtaEvent(execution: DeviceExecution, event: OtaEventV1): DeviceExecution | undefined {
  if (event.seq <= execution.lastSeq) return undefined;
  const { jobStatus, ...rest } = execution;
  return {
    ...rest,
    ...(jobStatus !== undefined && jobStatus !== 'TIMED_OUT' ? { jobStatus } : {}),
    stage: event.stage,
    runningVersion: event.runningVersion,
    lastSeq: event.seq,
    ...(event.stage === 'healthy' ? { healthySince: new Date(event.at).toISOString() } : {}),
    ...(event.reason === undefined ? {} : { reason: event.reason }),
    ...(event.bytesDownloaded === undefined ? {} : { bytesDownloaded: event.bytesDownloaded }),
    ...(event.transfer === undefined ? {} : { transfer: event.transfer }),
  };
}

/**
 * The execution after AWS IoT reported its job execution's status, or undefined if that changes
 * nothing: the same status again, or a final status (the device finished) followed by another.
 */
export function withJobStatus(
  execution: DeviceExecution,
  status: JobExecutionStatus,
): DeviceExecution | undefined {
  if (execution.jobStatus === status) return undefined;
  if (execution.jobStatus !== undefined && FINAL_JOB_STATUSES.includes(execution.jobStatus)) return undefined;
  if (status === 'QUEUED' || status === 'IN_PROGRESS') return undefined;
  return { ...execution, jobStatus: status };
}

/** Devices of a wave that have no verdict yet. */
export const inFlightOf = (counts: WaveCounts) => IN_FLIGHT_STAGES.reduce((n, s) => n + counts[s], 0);
