import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { TrustPublisher } from '../ports/trust-publisher';
import type { TrustRequestV1, TrustResponseV1 } from '../trust-publishing/schemas';

/** TrustPublisher on the publisher Lambda, invoked synchronously: the caller needs the answer. */
export class LambdaTrustPublisher implements TrustPublisher {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async request(request: TrustRequestV1): Promise<TrustResponseV1> {
    const response = await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'RequestResponse',
        Payload: new TextEncoder().encode(JSON.stringify(request)),
      }),
    );
    const body = response.Payload ? new TextDecoder().decode(response.Payload) : '';
    if (response.FunctionError)
      throw new Error(`Trust publisher failed (${response.FunctionError}): ${body.slice(0, 500)}`);
    return JSON.parse(body) as TrustResponseV1;
  }
}
