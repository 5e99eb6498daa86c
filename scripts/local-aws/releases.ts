/** Publishes a release through the operator API, as an operator would: upload, seal, release. */
import { randomBytes } from 'node:crypto';
import type { OperatorApiClient } from '../../operator-client/operator-api-client';

/** Local AWS counts an upload as TLS only with this header (README: what local AWS cannot show). */
const LOCAL_TLS = { headers: { 'x-forwarded-proto': 'https' } };

/**
 * One firmware image per hardware type (by default small random bytes), released as `version`
 * (`rel-<version>`). Does nothing if that release exists already.
 */
export async function publishRelease(
  api: OperatorApiClient,
  version: string,
  hardwareTypes: readonly string[],
  imageFor: (hardwareType: string) => Uint8Array = () => randomBytes(48 * 1024),
): Promise<string> {
  const releaseId = `rel-${version}`;
  if ((await api.request('GET', `releases/${releaseId}`)).status === 200) return releaseId;
  const artifactIds: string[] = [];
  for (const hardwareType of hardwareTypes) {
    const bytes = imageFor(hardwareType);
    const created = await api.createArtifact({ kind: 'firmware', hardwareType, version, size: bytes.length });
    const parts = await api.uploadArtifactBytes(created.upload, bytes, LOCAL_TLS);
    await api.completeArtifactUpload(created.artifact.artifactId, parts);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { status } = await api.getArtifact(created.artifact.artifactId);
      if (status === 'ready') break;
      if (status === 'rejected' || Date.now() > deadline)
        throw new Error(`Artifact ${created.artifact.artifactId} is ${status}`);
      await new Promise((r) => setTimeout(r, 250));
    }
    artifactIds.push(created.artifact.artifactId);
  }
  await api.createRelease({ version, artifacts: artifactIds });
  return releaseId;
}
