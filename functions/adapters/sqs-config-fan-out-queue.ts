import type { ConfigFanOutMessage, ConfigFanOutQueue } from '../ports/config-fan-out-queue';
import type { SqsApi } from '../shared/aws-api/sqs';

/** ConfigFanOutQueue on SQS: one message per page, taken by the fan-out worker one at a time. */
export class SqsConfigFanOutQueue implements ConfigFanOutQueue {
  constructor(
    private readonly sqs: SqsApi,
    private readonly queueUrl: string,
  ) {}

  async enqueue(message: ConfigFanOutMessage): Promise<void> {
    await this.sqs.sendMessage({ queueUrl: this.queueUrl, body: JSON.stringify(message) });
  }
}
