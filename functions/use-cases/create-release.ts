import type { Artifact } from '../domain/artifact';
import { ReleaseAlreadyExistsError } from '../domain/errors';
import {
  artifactIdsOf,
  composeRelease,
  type Release,
  type ReleaseRequest,
  releaseIdFor,
} from '../domain/release';
import type { Clock } from '../ports/clock';
import type { ReleaseStore } from '../ports/release-store';

/**
 * Makes a release, once per version:
 * 1. derives the release id from the version; a version released before fails here (409);
 * 2. reads every listed artifact (of every component);
 * 3. composes the release: each artifact must be ready and listed once, no hardware type may
 *    appear twice in a component, else a ValidationError names each offending entry and nothing
 *    is written;
 * 4. writes it with a create-only condition, so of two concurrent requests for one version only
 *    one succeeds. Ready artifacts never change, so what was checked in 3 is what is released.
 */
export const makeCreateRelease =
  (ports: { releases: ReleaseStore; clock: Clock }) =>
  async (request: ReleaseRequest): Promise<Release> => {
    const { releases, clock } = ports;
    const releaseId = releaseIdFor(request.version);
    if (await releases.getRelease(releaseId)) throw new ReleaseAlreadyExistsError(releaseId);
    const found = new Map<string, Artifact>();
    await Promise.all(
      artifactIdsOf(request).map(async (id) => {
        const artifact = await releases.getArtifact(id);
        if (artifact) found.set(id, artifact);
      }),
    );
    const release = composeRelease(request, found, clock.now());
    await releases.createRelease(release);
    return release;
  };
