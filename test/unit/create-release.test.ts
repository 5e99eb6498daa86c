import { describe, expect, it } from 'vitest';
import { InMemoryReleaseStore } from '../../functions/adapters/in-memory-release-store';
import { type Artifact, newArtifact } from '../../functions/domain/artifact';
import {
  ReleaseAlreadyExistsError,
  ReleaseNotFoundError,
  ValidationError,
} from '../../functions/domain/errors';
import { releaseView } from '../../functions/operator-api/release-view';
import { makeCreateRelease } from '../../functions/use-cases/create-release';
import { makeGetRelease, makeListReleases } from '../../functions/use-cases/get-release';

let counter = 0;
let minute = 0;
const clock = { now: () => new Date(Date.UTC(2026, 10, 1, 10, minute++)) };

async function storedArtifact(
  store: InMemoryReleaseStore,
  hardwareType: string,
  ready = true,
  kind: Artifact['kind'] = 'firmware',
): Promise<Artifact> {
  const id = `art-00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
  const artifact = newArtifact(
    id,
    { kind, hardwareType, version: '3.0.0', size: 5 },
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

describe('createRelease with components', () => {
  it('stores the components and shows them per hardware type, in install order', async () => {
    const releases = new InMemoryReleaseStore();
    const rootfs = await storedArtifact(releases, 'rpi4');
    const app = await storedArtifact(releases, 'rpi4', true, 'app');
    const model = await storedArtifact(releases, 'jetson', true, 'model');
    const create = makeCreateRelease({ releases, clock });

    const release = await create({
      version: '4.0.0',
      components: [
        { name: 'rootfs', handler: 'rootfs', artifactIds: [rootfs.artifactId] },
        {
          name: 'app',
          handler: 'docker-compose',
          settings: { project: 'edge' },
          artifactIds: [app.artifactId],
        },
        { name: 'model', handler: 'file', artifactIds: [model.artifactId] },
      ],
      downloadLimits: { jetson: { maxSeconds: 7200 } },
    });

    expect(await releases.getRelease('rel-4.0.0')).toEqual(release);
    const view = releaseView(release);
    expect(view.components).toEqual({
      jetson: [
        {
          name: 'model',
          handler: 'file',
          order: 2,
          settings: {},
          artifact: expect.objectContaining({ artifactId: model.artifactId, kind: 'model' }),
        },
      ],
      rpi4: [
        expect.objectContaining({ name: 'rootfs', handler: 'rootfs', order: 0 }),
        expect.objectContaining({
          name: 'app',
          handler: 'docker-compose',
          order: 1,
          settings: { project: 'edge' },
        }),
      ],
    });
    expect(view.downloadLimits).toEqual({ jetson: { maxSeconds: 7200 } });
    // Old clients read `artifacts`, one per hardware type: a release of components has none to show.
    expect(view).not.toHaveProperty('artifacts');
  });

  it('keeps `artifacts` in the view of a single-image release, for clients from before components', async () => {
    const releases = new InMemoryReleaseStore();
    const rpi = await storedArtifact(releases, 'rpi4');

    const view = releaseView(
      await makeCreateRelease({ releases, clock })({ version: '4.1.0', artifactIds: [rpi.artifactId] }),
    );

    expect(view.artifacts).toEqual({
      rpi4: expect.objectContaining({ artifactId: rpi.artifactId, size: 5 }),
    });
    expect(view.components.rpi4).toEqual([
      expect.objectContaining({ name: 'firmware', handler: 'rootfs', order: 0 }),
    ]);
    expect(view.downloadLimits).toEqual({});
  });

  it('writes nothing when a component is refused, and names it', async () => {
    const releases = new InMemoryReleaseStore();
    const rootfs = await storedArtifact(releases, 'rpi4');
    const waiting = await storedArtifact(releases, 'rpi4', false, 'app');
    const create = makeCreateRelease({ releases, clock });

    const refusal = create({
      version: '4.2.0',
      components: [
        { name: 'rootfs', handler: 'rootfs', artifactIds: [rootfs.artifactId] },
        { name: 'app', handler: 'app', artifactIds: [waiting.artifactId] },
      ],
    });

    await expect(refusal).rejects.toBeInstanceOf(ValidationError);
    await expect(refusal).rejects.toMatchObject({
      issues: [
        { field: 'components.1.artifacts.0', message: `${waiting.artifactId} is awaiting-upload, not ready` },
      ],
    });
    expect(await releases.getRelease('rel-4.2.0')).toBeUndefined();
    expect((await releases.listReleases({ limit: 10 })).items).toEqual([]);
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
