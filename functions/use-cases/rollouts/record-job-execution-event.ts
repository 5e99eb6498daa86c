import { type JobExecutionStatus, waveOfJob } from '../../domain/rollout';
import type { RolloutStore } from '../../ports/rollout-store';

/** Statuses that end a device's job execution without success: the ones a wave records. */
export const UNSUCCESSFUL_JOB_STATUSES = [
  'FAILED',
  'REJECTED',
  'TIMED_OUT',
  'CANCELED',
  'REMOVED',
] as const satisfies readonly JobExecutionStatus[];

/** What AWS IoT said of one device's execution of one job. */
export interface JobExecutionReport {
  readonly jobId: string;
  readonly deviceId: string;
  readonly status: JobExecutionStatus;
}

export type JobExecutionOutcome = 'applied' | 'ignored' | 'not-a-wave-job' | 'not-recorded';

/**
 * Records how AWS IoT ended a device's execution of a wave job, when it ended without success.
 * 1. A job not named `<rolloutId>-w<n>` is not a wave job: nothing to record.
 * 2. Only FAILED, REJECTED, TIMED_OUT, CANCELED and REMOVED are recorded. A SUCCEEDED job proves
 *    nothing (the wave waits for the device's own healthy report), and QUEUED or IN_PROGRESS
 *    end nothing.
 * 3. The store applies the status to the device's execution in that wave, if there is one. A
 *    repeated or late event (the same status again, or any after a final one) changes nothing.
 */
export const makeRecordJobExecutionEvent =
  ({ rollouts }: { rollouts: Pick<RolloutStore, 'applyJobExecutionStatus'> }) =>
  async (report: JobExecutionReport): Promise<JobExecutionOutcome> => {
    const rolloutId = /^(.+)-w\d{1,3}$/.exec(report.jobId)?.[1];
    const waveIndex = rolloutId === undefined ? undefined : waveOfJob(rolloutId, report.jobId);
    if (rolloutId === undefined || waveIndex === undefined) return 'not-a-wave-job';
    if (!(UNSUCCESSFUL_JOB_STATUSES as readonly string[]).includes(report.status)) return 'not-recorded';
    const applied = await rollouts.applyJobExecutionStatus(
      rolloutId,
      waveIndex,
      report.deviceId,
      report.status,
    );
    return applied ? 'applied' : 'ignored';
  };
