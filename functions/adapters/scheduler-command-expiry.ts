import type { CommandExpiryScheduler } from '../ports/command-expiry';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { SchedulerApi } from '../shared/aws-api/scheduler';

/** Every command expiry schedule's name starts with this (IAM is scoped to it): `edgeops-<commandId>`. */
export const EXPIRY_SCHEDULE_PREFIX = 'edgeops-cmd-';

export interface SchedulerCommandExpirySettings {
  /** The schedule group the schedules go in. */
  readonly groupName: string;
  /** The expiry Lambda. */
  readonly targetArn: string;
  /** The role EventBridge Scheduler assumes to invoke it. */
  readonly roleArn: string;
}

/** What the expiry Lambda receives from a command's schedule. */
export interface CommandExpiryEvent {
  readonly deviceId: string;
  readonly commandId: string;
}

/**
 * CommandExpiryScheduler on EventBridge Scheduler: one one-shot `at()` schedule per command, named
 * `edgeops-<commandId>`, that invokes the expiry Lambda with the command and deletes itself
 * (ActionAfterCompletion DELETE). The schedule's time is the next whole second after expiry; the
 * target retries for up to a day if Lambda is unavailable.
 */
export class SchedulerCommandExpiry implements CommandExpiryScheduler {
  constructor(
    private readonly scheduler: SchedulerApi,
    private readonly settings: SchedulerCommandExpirySettings,
  ) {}

  async schedule(deviceId: string, commandId: string, at: Date): Promise<void> {
    const due = new Date(Math.ceil(at.getTime() / 1000) * 1000);
    const event: CommandExpiryEvent = { deviceId, commandId };
    try {
      await this.scheduler.createSchedule({
        // commandId starts with `cmd-`: `edgeops-cmd-…`, 34 characters (≤ 64).
        name: `edgeops-${commandId}`,
        groupName: this.settings.groupName,
        scheduleExpression: `at(${due.toISOString().slice(0, 19)})`,
        scheduleExpressionTimezone: 'UTC',
        actionAfterCompletion: 'DELETE',
        description: `Expiry of command ${commandId} for ${deviceId}`,
        target: {
          arn: this.settings.targetArn,
          roleArn: this.settings.roleArn,
          input: JSON.stringify(event),
        },
      });
    } catch (error) {
      if (!isAwsApiError(error, 'ConflictException')) throw error;
    }
  }
}
