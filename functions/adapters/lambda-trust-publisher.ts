import type { TrustPublisher } from '../ports/trust-publisher';
import type { LambdaApi } from '../shared/aws-api/lambda';
import type { TrustRequestV1, TrustResponseV1 } from '../trust-publishing/schemas';

/** TrustPublisher on the publisher Lambda, invoked synchronously: the caller needs the answer. */
export class LambdaTrustPublisher implements TrustPublisher {
  constructor(
    private readonly lambda: LambdaApi,
    private readonly functionName: string,
  ) {}

  async request(request: TrustRequestV1): Promise<TrustResponseV1> {
    const { functionError, payload } = await this.lambda.invoke({
      functionName: this.functionName,
      invocationType: 'RequestResponse',
      payload: JSON.stringify(request),
    });
    if (functionError) throw new Error(`Trust publisher failed (${functionError}): ${payload.slice(0, 500)}`);
    return JSON.parse(payload) as TrustResponseV1;
  }
}
