import type { SealArtifactEventV1 } from '../artifact-sealing/schemas';
import type { ArtifactSealer } from '../ports/artifact-sealer';
import type { LambdaApi } from '../shared/aws-api/lambda';

/**
 * ArtifactSealer on the seal Lambda, invoked asynchronously (`Event`): Lambda queues the request
 * and answers at once, and retries a failed seal twice on its own.
 */
export class LambdaArtifactSealer implements ArtifactSealer {
  constructor(
    private readonly lambda: LambdaApi,
    private readonly functionName: string,
  ) {}

  async requestSeal(artifactId: string): Promise<void> {
    const event: SealArtifactEventV1 = { schema: 'edgeops.seal-artifact.v1', artifactId };
    await this.lambda.invoke({
      functionName: this.functionName,
      invocationType: 'Event',
      payload: JSON.stringify(event),
    });
  }
}
