/**
 * The Lambda call EdgeOps Lambdas make (Invoke, to hand work to another of our functions), on
 * AwsService (aws-service.ts says why not the SDK's Lambda client).
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export interface InvokeOutput {
  /** Set when the function failed (`Unhandled`, ...): the payload then describes the error. */
  readonly functionError: string | undefined;
  /** What the function returned (JSON); empty for an `Event` invocation. */
  readonly payload: string;
}

export class LambdaApi {
  readonly #service = new AwsService({
    signingName: 'lambda',
    endpointId: 'LAMBDA',
    host: (region) => `lambda.${region}.${dnsSuffix(region)}`,
  });

  /**
   * Invoke with a JSON payload: `RequestResponse` waits for the function's answer; `Event` queues
   * the request (Lambda answers 202 at once and retries a failed run twice on its own).
   */
  async invoke(input: {
    functionName: string;
    invocationType: 'RequestResponse' | 'Event';
    payload: string;
  }): Promise<InvokeOutput> {
    const response = await this.#service.send({
      method: 'POST',
      path: `/2015-03-31${encodePath('functions', input.functionName)}/invocations`,
      headers: { 'x-amz-invocation-type': input.invocationType, 'content-type': 'application/octet-stream' },
      body: input.payload,
    });
    return {
      functionError: response.headers.get('x-amz-function-error') ?? undefined,
      payload: await response.text(),
    };
  }
}
