import { measure, sealVerdict } from '../domain/artifact';
import type { ArtifactStorage } from '../ports/artifact-storage';
import type { Clock } from '../ports/clock';
import type { ReleaseStore } from '../ports/release-store';

export type SealOutcome = 'ready' | 'rejected' | 'ignored';

/**
 * Seals an artifact whose upload is complete:
 * 1. an artifact that is not `sealing` is left alone (a repeated or late request writes nothing);
 * 2. streams the stored object once, computing its SHA-256 and size, and notes its S3 version;
 * 3. marks it `ready` with what was measured, or `rejected` when the size is not the declared
 *    one (or the object is gone). Both writes are conditional on `sealing`, so of two seals of
 *    the same artifact only the first one's result is ever written.
 */
export const makeSealArtifact =
  (ports: { releases: ReleaseStore; storage: ArtifactStorage; clock: Clock }) =>
  async (artifactId: string): Promise<SealOutcome> => {
    const { releases, storage, clock } = ports;
    const artifact = await releases.getArtifact(artifactId);
    if (artifact?.status !== 'sealing') return 'ignored';

    const stored = await storage.read(artifact.s3Key);
    if (!stored) {
      const written = await releases.markRejected(artifactId, 'object-missing', clock.now());
      return written ? 'rejected' : 'ignored';
    }
    // A release pins the exact object version; without versioning there is nothing to pin.
    if (stored.versionId === undefined) throw new Error(`${artifact.s3Key} has no S3 version id`);
    const measured = await measure(stored.body);
    const verdict = sealVerdict(artifact, { ...measured, s3VersionId: stored.versionId });
    const written =
      verdict.status === 'ready'
        ? await releases.markReady(artifactId, verdict.digest, clock.now())
        : await releases.markRejected(artifactId, verdict.reason, clock.now());
    return written ? verdict.status : 'ignored';
  };
