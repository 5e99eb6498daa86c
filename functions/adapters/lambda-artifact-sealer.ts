import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SealArtifactEventV1 } from '../artifact-sealing/schemas';
import type { ArtifactSealer } from '../ports/artifact-sealer';

/**
 * ArtifactSealer on the seal Lambda, invoked asynchronously (`Event`): Lambda queues the request
 * and answers at once, and retries a failed seal twice on its own.
 */
export class LambdaArtifactSealer implements ArtifactSealer {
  constructor(
    private readonly lambda: LambdaClient,
    private readonly functionName: string,
  ) {}

  async requestSeal(artifactId: string): Promise<void> {
    const event: SealArtifactEventV1 = { schema: 'edgeops.seal-artifact.v1', artifactId };
    await this.lambda.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: new TextEncoder().encode(JSON.stringify(event)),
      }),
    );
  }
}
