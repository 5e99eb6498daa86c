import type { Artifact, ArtifactDigest } from '../domain/artifact';
import type { Release } from '../domain/release';

export interface ReleasePage {
  readonly items: readonly Release[];
  /** Opaque; pass back as `cursor` to get the next page. Absent on the last page. */
  readonly nextCursor?: string;
}

export interface ListReleasesQuery {
  readonly limit: number;
  readonly cursor?: string;
}

/**
 * Where artifact and release records live. Every state change is conditional on the state it
 * starts from, so a repeated or late call writes nothing.
 */
export interface ReleaseStore {
  /** Records a new artifact (status `awaiting-upload`); fails if the id is taken. */
  createArtifact(artifact: Artifact): Promise<void>;
  getArtifact(artifactId: string): Promise<Artifact | undefined>;
  /**
   * `awaiting-upload` → `sealing`. Returns the artifact as it is afterwards, whoever moved it;
   * undefined when there is no such artifact.
   */
  markSealing(artifactId: string, at: Date): Promise<Artifact | undefined>;
  /** `sealing` → `ready` with what was measured. False (nothing written) from any other status. */
  markReady(artifactId: string, digest: ArtifactDigest, at: Date): Promise<boolean>;
  /** `sealing` → `rejected` with the reason. False (nothing written) from any other status. */
  markRejected(artifactId: string, reason: string, at: Date): Promise<boolean>;

  /** Writes a release once; throws ReleaseAlreadyExistsError when its id is taken. */
  createRelease(release: Release): Promise<void>;
  getRelease(releaseId: string): Promise<Release | undefined>;
  /** Newest first. Throws ValidationError for a cursor it did not issue. */
  listReleases(query: ListReleasesQuery): Promise<ReleasePage>;
}
