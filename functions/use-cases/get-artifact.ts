import type { Artifact } from '../domain/artifact';
import { ArtifactNotFoundError } from '../domain/errors';
import type { ReleaseStore } from '../ports/release-store';

export const makeGetArtifact =
  (ports: { releases: ReleaseStore }) =>
  async (artifactId: string): Promise<Artifact> => {
    const artifact = await ports.releases.getArtifact(artifactId);
    if (!artifact) throw new ArtifactNotFoundError(artifactId);
    return artifact;
  };
