import { ReleaseNotFoundError } from '../domain/errors';
import type { Release } from '../domain/release';
import type { ListReleasesQuery, ReleasePage, ReleaseStore } from '../ports/release-store';

export const makeGetRelease =
  (ports: { releases: ReleaseStore }) =>
  async (releaseId: string): Promise<Release> => {
    const release = await ports.releases.getRelease(releaseId);
    if (!release) throw new ReleaseNotFoundError(releaseId);
    return release;
  };

export const makeListReleases =
  (ports: { releases: ReleaseStore }) =>
  (query: ListReleasesQuery): Promise<ReleasePage> =>
    ports.releases.listReleases(query);
