import type { CommandJobDocumentV1 } from '../../contract/device-commands';
import { JOB_EXECUTION_STATUSES, type JobExecutionStatus } from '../../contract/iot-jobs';
import type { CancelOutcome, CommandExecution, CommandJobs } from '../ports/command-jobs';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';

/**
 * CommandJobs on AWS IoT Jobs: one SNAPSHOT job per command whose one target is the device's
 * thing, so no thing group is involved (a thing may be in only 10), with an in-progress timeout.
 * Retries are off: a command that timed out is reported, not run twice (a second reboot is not
 * what anyone asked for).
 */
export class IotCommandJobs implements CommandJobs {
  constructor(
    private readonly iot: IotApi,
    /** `arn:<partition>:iot:<region>:<account>:thing/`. */
    private readonly thingArnPrefix: string,
  ) {}

  async create(
    deviceId: string,
    document: CommandJobDocumentV1,
    settings: { readonly inProgressTimeoutMinutes: number },
  ): Promise<void> {
    try {
      await this.iot.createJob({
        jobId: document.commandId,
        targets: [`${this.thingArnPrefix}${deviceId}`],
        targetSelection: 'SNAPSHOT',
        document: JSON.stringify(document),
        description: `EdgeOps command ${document.command} for ${deviceId}`,
        timeoutConfig: { inProgressTimeoutInMinutes: settings.inProgressTimeoutMinutes },
      });
    } catch (error) {
      if (!isAwsApiError(error, 'ResourceAlreadyExistsException')) throw error;
    }
  }

  async cancelQueued(
    deviceId: string,
    jobId: string,
    statusDetails: Record<string, string>,
  ): Promise<CancelOutcome> {
    try {
      await this.iot.cancelJobExecution({ jobId, thingName: deviceId, force: false, statusDetails });
      return 'canceled';
    } catch (error) {
      if (isAwsApiError(error, 'ResourceNotFoundException')) return 'missing';
      // AWS IoT refuses to cancel an IN_PROGRESS execution without force, and any terminal one.
      if (
        !isAwsApiError(
          error,
          'InvalidStateTransitionException',
          'InvalidRequestException',
          'ConflictException',
        )
      )
        throw error;
      const execution = await this.describe(deviceId, jobId);
      if (!execution) return 'missing';
      return execution.status === 'IN_PROGRESS' ? 'in-progress' : 'already-ended';
    }
  }

  async describe(deviceId: string, jobId: string): Promise<CommandExecution | undefined> {
    try {
      const { execution } = await this.iot.describeJobExecution({ jobId, thingName: deviceId });
      const status = execution?.status;
      if (!status || !(JOB_EXECUTION_STATUSES as readonly string[]).includes(status)) return undefined;
      const details = execution.statusDetails?.detailsMap;
      return { status: status as JobExecutionStatus, ...(details ? { statusDetails: details } : {}) };
    } catch (error) {
      if (isAwsApiError(error, 'ResourceNotFoundException')) return undefined;
      throw error;
    }
  }
}
