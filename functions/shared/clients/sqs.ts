/** The SQS client (sending to our own queues; aws-api/sqs.ts), made once per container. */
import { SqsApi } from '../aws-api/sqs';

export const sqs = new SqsApi();
