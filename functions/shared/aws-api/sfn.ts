/**
 * The Step Functions calls EdgeOps Lambdas make (the rollout state machine's executions and task
 * tokens), on AwsService (aws-service.ts says why not the SDK's client). Each method is one
 * operation, named as in the SDK, with its input and output field names.
 */
import { AwsService, dnsSuffix } from './aws-service';

export class SfnApi {
  readonly #service = new AwsService({
    signingName: 'states',
    endpointId: 'SFN',
    host: (region) => `states.${region}.${dnsSuffix(region)}`,
  });

  startExecution(input: { stateMachineArn: string; name: string; input: string }): Promise<unknown> {
    return this.#call('StartExecution', input);
  }

  stopExecution(input: { executionArn: string; cause?: string }): Promise<unknown> {
    return this.#call('StopExecution', input);
  }

  describeExecution(input: { executionArn: string }): Promise<{ status?: string }> {
    return this.#call('DescribeExecution', input);
  }

  sendTaskSuccess(input: { taskToken: string; output: string }): Promise<unknown> {
    return this.#call('SendTaskSuccess', input);
  }

  /** The AWS JSON 1.0 protocol: POST / naming the operation in X-Amz-Target. */
  #call<T>(operation: string, input: object): Promise<T> {
    return this.#service.sendJson<T>({
      method: 'POST',
      path: '/',
      headers: {
        'x-amz-target': `AWSStepFunctions.${operation}`,
        'content-type': 'application/x-amz-json-1.0',
      },
      body: JSON.stringify(input),
    });
  }
}
