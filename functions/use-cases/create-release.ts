import { ReleaseAlreadyExistsError } from '../domain/errors';
import { composeRelease, type Release, type ReleaseRequest, releaseIdFor } from '../domain/release';
import type { Clock } from '../ports/clock';
import type { ReleaseStore } from '../ports/release-store';

/**
 * Makes a release, once per version:
 * 1. derives the release id from the version; a version released before fails here (409);
 * 2. reads every listed artifact;
 * 3. composes the release: each artifact must be ready and no hardware type may appear twice,
 *    else a ValidationError names each offending entry and nothing is written;
 * 4. writes it with a create-only condition, so of two concurrent requests for one version only
 *    one succeeds. Ready artifacts never change, so what was checked in 3 is what is released.
 */
export const makeCreateRelease =
  (ports: { releases: ReleaseStore; clock: Clock }) =>
  async (request: ReleaseRequest): Promise<Release> => {
    const { releases, clock } = ports;
    const releaseId = releaseIdFor(request.version);
    if (await releases.getRelease(releaseId)) throw new ReleaseAlreadyExistsError(releaseId);
    const found = await Promise.all(request.artifactIds.map((id) => releases.getArtifact(id)));
    const release = composeRelease(request, found, clock.now());
    await releases.createRelease(release);
    return release;
  };
