import type { CommandJobDocumentV1 } from '../../contract/device-commands';
import type { JobExecutionStatus } from '../../contract/iot-jobs';

/** One job execution as AWS IoT reports it. */
export interface CommandExecution {
  readonly status: JobExecutionStatus;
  readonly statusDetails?: Readonly<Record<string, string>>;
}

/** What became of a request to cancel a command's execution. */
export type CancelOutcome = 'canceled' | 'in-progress' | 'already-ended' | 'missing';

/** The AWS IoT jobs that carry commands: one job per command, for its one device. */
export interface CommandJobs {
  /** Creates the job (id = command id) for the device's thing; idempotent for the same id. */
  create(
    deviceId: string,
    document: CommandJobDocumentV1,
    settings: { readonly inProgressTimeoutMinutes: number },
  ): Promise<void>;
  /**
   * Cancels the device's execution if it has not started (a started one is left to finish or
   * time out: forcing it could cut a reboot or an upload in half), with `statusDetails`.
   */
  cancelQueued(
    deviceId: string,
    jobId: string,
    statusDetails: Record<string, string>,
  ): Promise<CancelOutcome>;
  /** The execution as AWS IoT has it now; undefined when there is none. */
  describe(deviceId: string, jobId: string): Promise<CommandExecution | undefined>;
}
