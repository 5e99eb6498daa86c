import type { Artifact, ArtifactDigest } from '../domain/artifact';
import { ReleaseAlreadyExistsError } from '../domain/errors';
import type { Release } from '../domain/release';
import type { ListReleasesQuery, ReleasePage, ReleaseStore } from '../ports/release-store';
import { decodeCursor, encodeCursor } from './page-cursor';

/** ReleaseStore for unit tests; same semantics as DynamoDbReleaseStore. */
export class InMemoryReleaseStore implements ReleaseStore {
  readonly #artifacts = new Map<string, Artifact>();
  readonly #releases = new Map<string, Release>();

  async createArtifact(artifact: Artifact): Promise<void> {
    if (this.#artifacts.has(artifact.artifactId)) throw new Error(`Artifact ${artifact.artifactId} exists`);
    this.#artifacts.set(artifact.artifactId, artifact);
  }

  async getArtifact(artifactId: string): Promise<Artifact | undefined> {
    return this.#artifacts.get(artifactId);
  }

  async markSealing(artifactId: string, at: Date): Promise<Artifact | undefined> {
    const artifact = this.#artifacts.get(artifactId);
    if (artifact?.status !== 'awaiting-upload') return artifact;
    const sealing: Artifact = { ...artifact, status: 'sealing', completedAt: at.toISOString() };
    this.#artifacts.set(artifactId, sealing);
    return sealing;
  }

  async markReady(artifactId: string, digest: ArtifactDigest, at: Date): Promise<boolean> {
    const artifact = this.#artifacts.get(artifactId);
    if (artifact?.status !== 'sealing') return false;
    this.#artifacts.set(artifactId, { ...artifact, status: 'ready', ...digest, sealedAt: at.toISOString() });
    return true;
  }

  async markRejected(artifactId: string, reason: string, at: Date): Promise<boolean> {
    const artifact = this.#artifacts.get(artifactId);
    if (artifact?.status !== 'sealing') return false;
    this.#artifacts.set(artifactId, {
      ...artifact,
      status: 'rejected',
      rejectionReason: reason,
      sealedAt: at.toISOString(),
    });
    return true;
  }

  async createRelease(release: Release): Promise<void> {
    if (this.#releases.has(release.releaseId)) throw new ReleaseAlreadyExistsError(release.releaseId);
    this.#releases.set(release.releaseId, release);
  }

  async getRelease(releaseId: string): Promise<Release | undefined> {
    return this.#releases.get(releaseId);
  }

  async listReleases(query: ListReleasesQuery): Promise<ReleasePage> {
    const sortKey = (release: Release) => `${release.createdAt}#${release.releaseId}`;
    const before =
      query.cursor === undefined
        ? undefined
        : decodeCursor<{ before: string }>(query.cursor, (key) => typeof key.before === 'string').before;
    const matching = [...this.#releases.values()]
      .sort((a, b) => sortKey(b).localeCompare(sortKey(a)))
      .filter((release) => before === undefined || sortKey(release) < before);
    const items = matching.slice(0, query.limit);
    const last = items.at(-1);
    return matching.length > query.limit && last
      ? { items, nextCursor: encodeCursor({ before: sortKey(last) }) }
      : { items };
  }
}
