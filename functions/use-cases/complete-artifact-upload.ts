import type { Artifact } from '../domain/artifact';
import { ArtifactNotFoundError, ArtifactNotUploadedError, ValidationError } from '../domain/errors';
import type { ArtifactSealer } from '../ports/artifact-sealer';
import type { ArtifactStorage, UploadedPart } from '../ports/artifact-storage';
import type { Clock } from '../ports/clock';
import type { ReleaseStore } from '../ports/release-store';

export interface CompleteUploadInput {
  readonly artifactId: string;
  /** Every part of a multipart upload, 1 to N in order; absent for a single PUT. */
  readonly parts?: readonly UploadedPart[];
}

export interface CompletedUpload {
  /** `sealing`: the seal was requested; `sealed`: it was done before and nothing changed. */
  readonly outcome: 'sealing' | 'sealed';
  readonly artifact: Artifact;
}

/**
 * Completes an artifact's upload and asks for it to be sealed:
 * 1. an artifact already `ready` or `rejected` is returned as it is: nothing is written again;
 * 2. while `awaiting-upload`: a multipart upload is assembled from all its parts (1 to N); a
 *    single PUT must have stored the object. Otherwise: ArtifactNotUploadedError, nothing written;
 * 3. the artifact moves to `sealing` (a concurrent completion may have moved it already);
 * 4. the seal runs asynchronously. Completing a `sealing` artifact again only asks again, which
 *    is safe: the seal writes only from `sealing`, so the first result stays.
 */
export const makeCompleteArtifactUpload =
  (ports: { releases: ReleaseStore; storage: ArtifactStorage; sealer: ArtifactSealer; clock: Clock }) =>
  async (input: CompleteUploadInput): Promise<CompletedUpload> => {
    const { releases, storage, sealer, clock } = ports;
    let artifact = await releases.getArtifact(input.artifactId);
    if (!artifact) throw new ArtifactNotFoundError(input.artifactId);
    if (artifact.status === 'ready' || artifact.status === 'rejected') return { outcome: 'sealed', artifact };

    if (artifact.status === 'awaiting-upload') {
      await confirmUpload(storage, artifact, input.parts);
      artifact = await releases.markSealing(artifact.artifactId, clock.now());
      if (!artifact) throw new ArtifactNotFoundError(input.artifactId);
      if (artifact.status === 'ready' || artifact.status === 'rejected') {
        return { outcome: 'sealed', artifact };
      }
    }
    await sealer.requestSeal(artifact.artifactId);
    return { outcome: 'sealing', artifact };
  };

async function confirmUpload(
  storage: ArtifactStorage,
  artifact: Artifact,
  parts: readonly UploadedPart[] | undefined,
): Promise<void> {
  const { upload, s3Key, artifactId } = artifact;
  if (upload.type === 'single') {
    if (parts !== undefined) {
      throw new ValidationError('This artifact is uploaded with a single PUT: send no parts', [
        { field: 'parts', message: 'not a multipart upload' },
      ]);
    }
    if (!(await storage.exists(s3Key))) throw new ArtifactNotUploadedError(artifactId);
    return;
  }
  const expected = `all ${upload.partCount} parts, numbered 1 to ${upload.partCount} in order`;
  if (parts === undefined) {
    throw new ValidationError(`This artifact is a multipart upload: list ${expected}`, [
      { field: 'parts', message: 'required for a multipart upload' },
    ]);
  }
  if (parts.length !== upload.partCount || parts.some((part, i) => part.partNumber !== i + 1)) {
    throw new ValidationError(`Invalid parts: list ${expected}`, [{ field: 'parts', message: expected }]);
  }
  const assembled = await storage.completeMultipartUpload(s3Key, upload.uploadId, parts);
  // S3 forgets an upload once it is complete: a retry after a lost status update lands here.
  if (!assembled && !(await storage.exists(s3Key))) throw new ArtifactNotUploadedError(artifactId);
}
