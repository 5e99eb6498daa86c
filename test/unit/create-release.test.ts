import { describe, expect, it } from 'vitest';
import { InMemoryReleaseStore } from '../../functions/adapters/in-memory-release-store';
import { type Artifact, newArtifact } from '../../functions/domain/artifact';
import {
  ReleaseAlreadyExistsError,
  ReleaseNotFoundError,
  ValidationError,
} from '../../functions/domain/errors';
import { makeCreateRelease } from '../../functions/use-cases/create-release';
import { makeGetRelease, makeListReleases } from '../../functions/use-cases/get-release';

let counter = 0;
let minute = 0;
const clock = { now: () => new Date(Date.UTC(2026, 10, 1, 10, minute++)) };

async function storedArtifact(
  store: InMemoryReleaseStore,
  hardwareType: string,
  ready = true,
): Promise<Artifact> {
  const id = `art-00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
  const artifact = newArtifact(
    id,
    { kind: 'firmware', hardwareType, version: '3.0.0', size: 5 },
    { type: 'single' },
    clock.now(),
  );
  await store.createArtifact(artifact);
  if (ready) {
    await store.markSealing(id, clock.now());
    await store.markReady(id, { sha256: 'c'.repeat(64), size: 5, s3VersionId: `v-${id}` }, clock.now());
  }
  return (await store.getArtifact(id)) as Artifact;
}

describe('createRelease', () => {
  it('stores the release under an id derived from its version', async () => {
    const releases = new InMemoryReleaseStore();
    const rpi = await storedArtifact(releases, 'rpi4');
    const create = makeCreateRelease({ releases, clock });

    const release = await create({ version: '3.0.0', artifactIds: [rpi.artifactId] });

    expect(release.releaseId).toBe('rel-3.0.0');
    expect(await makeGetRelease({ releases })('rel-3.0.0')).toEqual(release);
  });

  it('refuses the same version again and keeps the first release as it was', async () => {
    const releases = new InMemoryReleaseStore();
    const first = await storedArtifact(releases, 'rpi4');
    const other = await storedArtifact(releases, 'jetson');
    const create = makeCreateRelease({ releases, clock });
    const original = await create({ version: '3.0.0', artifactIds: [first.artifactId] });

    await expect(create({ version: '3.0.0', artifactIds: [other.artifactId] })).rejects.toBeInstanceOf(
      ReleaseAlreadyExistsError,
    );
    expect(await releases.getRelease('rel-3.0.0')).toEqual(original);
  });

  it('writes nothing when an artifact is not ready', async () => {
    const releases = new InMemoryReleaseStore();
    const waiting = await storedArtifact(releases, 'rpi4', false);
    const create = makeCreateRelease({ releases, clock });

    await expect(create({ version: '3.1.0', artifactIds: [waiting.artifactId] })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await releases.getRelease('rel-3.1.0')).toBeUndefined();
  });
});

describe('getRelease', () => {
  it('fails with ReleaseNotFoundError for an unknown id', async () => {
    await expect(
      makeGetRelease({ releases: new InMemoryReleaseStore() })('rel-9.9.9'),
    ).rejects.toBeInstanceOf(ReleaseNotFoundError);
  });
});

describe('listReleases', () => {
  it('pages through every release exactly once, newest first', async () => {
    const releases = new InMemoryReleaseStore();
    const create = makeCreateRelease({ releases, clock });
    for (const version of ['1.0.0', '1.1.0', '1.2.0', '2.0.0', '2.1.0']) {
      const artifact = await storedArtifact(releases, 'rpi4');
      await create({ version, artifactIds: [artifact.artifactId] });
    }
    const list = makeListReleases({ releases });

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list({ limit: 2, ...(cursor ? { cursor } : {}) });
      seen.push(...page.items.map((release) => release.version));
      cursor = page.nextCursor;
    } while (cursor);

    expect(seen).toEqual(['2.1.0', '2.0.0', '1.2.0', '1.1.0', '1.0.0']);
  });

  it('rejects a cursor it did not issue', async () => {
    const list = makeListReleases({ releases: new InMemoryReleaseStore() });

    await expect(list({ limit: 2, cursor: 'bm90LWEtY3Vyc29y' })).rejects.toBeInstanceOf(ValidationError);
  });
});
