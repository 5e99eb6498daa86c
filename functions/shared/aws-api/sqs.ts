/**
 * SQS SendMessage on AwsService (aws-service.ts says why not the SDK's client), in the JSON
 * protocol: how a Lambda hands the next page of its work to a queue.
 */
import { AwsService, dnsSuffix } from './aws-service';

export class SqsApi {
  readonly #service = new AwsService({
    signingName: 'sqs',
    endpointId: 'SQS',
    host: (region) => `sqs.${region}.${dnsSuffix(region)}`,
  });

  /** SendMessage; the body is at most 256 KB. */
  async sendMessage(input: { queueUrl: string; body: string }): Promise<void> {
    await this.#service.sendJson<{ MessageId?: string }>({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': 'AmazonSQS.SendMessage', 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify({ QueueUrl: input.queueUrl, MessageBody: input.body }),
    });
  }
}
