/**
 * The EventBridge Scheduler call EdgeOps Lambdas make (CreateSchedule), on AwsService
 * (aws-service.ts says why not the SDK's client): a one-shot `at(...)` schedule that invokes a
 * target once and deletes itself.
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export interface CreateScheduleInput {
  readonly name: string;
  readonly groupName: string;
  /** `at(yyyy-mm-ddThh:mm:ss)`, `rate(...)` or `cron(...)`. */
  readonly scheduleExpression: string;
  readonly scheduleExpressionTimezone?: string;
  readonly target: {
    readonly arn: string;
    readonly roleArn: string;
    readonly input: string;
    readonly maximumRetryAttempts?: number;
    readonly maximumEventAgeInSeconds?: number;
  };
  readonly actionAfterCompletion?: 'NONE' | 'DELETE';
  readonly description?: string;
}

export class SchedulerApi {
  readonly #service = new AwsService({
    signingName: 'scheduler',
    endpointId: 'SCHEDULER',
    host: (region) => `scheduler.${region}.${dnsSuffix(region)}`,
  });

  async createSchedule(input: CreateScheduleInput): Promise<{ ScheduleArn?: string }> {
    const { target } = input;
    const body = {
      GroupName: input.groupName,
      ScheduleExpression: input.scheduleExpression,
      ScheduleExpressionTimezone: input.scheduleExpressionTimezone ?? 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: input.actionAfterCompletion ?? 'NONE',
      ...(input.description ? { Description: input.description } : {}),
      Target: {
        Arn: target.arn,
        RoleArn: target.roleArn,
        Input: target.input,
        RetryPolicy: {
          MaximumRetryAttempts: target.maximumRetryAttempts ?? 185,
          MaximumEventAgeInSeconds: target.maximumEventAgeInSeconds ?? 86_400,
        },
      },
    };
    return this.#service.sendJson({
      method: 'POST',
      path: encodePath('schedules', input.name),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
}
