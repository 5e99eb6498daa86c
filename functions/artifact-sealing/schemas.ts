import * as z from '../../contract/zod-mini';
import { ARTIFACT_ID_PATTERN } from '../domain/artifact';

/**
 * What the seal Lambda is invoked with (asynchronously, by `POST /artifacts/{id}/complete`), V1.
 * Only the id travels: the seal reads everything else from the catalog, as it is then.
 */
export const SealArtifactEventV1 = z.strictObject({
  schema: z.literal('edgeops.seal-artifact.v1'),
  artifactId: z.string().check(z.regex(ARTIFACT_ID_PATTERN, 'not an artifact id')),
});
export type SealArtifactEventV1 = z.infer<typeof SealArtifactEventV1>;
