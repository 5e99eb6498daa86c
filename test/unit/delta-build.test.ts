import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { applyDelta, collect, patchStream } from '../../contract/zstd-delta';
import { InMemoryArtifactStorage } from '../../functions/adapters/in-memory-artifact-storage';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { BuildDeltaEventV1 } from '../../functions/delta-building/schemas';
import { DeltaInputMismatchError, deltaKey, MAX_DELTA_BUILDS } from '../../functions/domain/delta';
import type { DeviceExecution, Rollout } from '../../functions/domain/rollout';
import type { ReleaseCatalog, ReleaseForRollout } from '../../functions/ports/release-catalog';
import { type DeltaBuildRequest, makeBuildDelta } from '../../functions/use-cases/build-delta';
import { makePlanDeltas } from '../../functions/use-cases/rollouts/plan-deltas';
import { sha256 } from '../support/bytes';
import { createRolloutWith } from './rollout-fixtures';
import { component } from './rollout-harness';

const clock = { now: () => new Date('2026-01-01T00:00:00Z') };

/** A base image and the next version of it: a few edits, so the patch is small. */
function images(size = 256 * 1024) {
  const base = randomBytes(size);
  const image = Buffer.from(base);
  randomBytes(512).copy(image, 1000);
  randomBytes(512).copy(image, size - 2000);
  return { base, image };
}

function setup() {
  const storage = new InMemoryArtifactStorage();
  const deltas = new InMemoryDeltaStore();
  const { base, image } = images();
  const baseVersionId = storage.put('artifacts/art-base', base);
  const imageVersionId = storage.put('artifacts/art-image', image);
  const request: DeltaBuildRequest = {
    releaseId: 'rel-2.0.0',
    version: '2.0.0',
    hardwareType: 'rpi4',
    component: 'app',
    base: {
      releaseId: 'rel-1.0.0',
      version: '1.0.0',
      key: 'artifacts/art-base',
      versionId: baseVersionId,
      sha256: sha256(base),
      size: base.length,
    },
    image: {
      key: 'artifacts/art-image',
      versionId: imageVersionId,
      sha256: sha256(image),
      size: image.length,
    },
    deltaKey: deltaKey('rel-2.0.0', 'rpi4', 'app', sha256(base)),
    deviceCount: 3,
  };
  return { storage, deltas, base, image, request, build: makeBuildDelta({ storage, deltas, clock }) };
}

describe('build delta', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });

  it('stores a patch that rebuilds the image, then records it with its size, hash and object version', async () => {
    const result = await t.build(t.request);

    const [stored] = t.storage.versionsOf(t.request.deltaKey);
    expect(stored).toBeDefined();
    const patch = Buffer.from(stored?.bytes ?? []);
    expect((await collect(applyDelta(t.base, patchStream(patch)))).equals(t.image)).toBe(true);
    expect(result).toEqual({
      outcome: 'built',
      delta: {
        releaseId: 'rel-2.0.0',
        hardwareType: 'rpi4',
        component: 'app',
        baseSha256: t.request.base.sha256,
        baseSize: t.base.length,
        baseVersion: '1.0.0',
        imageSha256: t.request.image.sha256,
        imageSize: t.image.length,
        status: 'ready',
        s3Key: `deltas/rel-2.0.0/rpi4/app/${t.request.base.sha256}.zst`,
        s3VersionId: stored?.versionId,
        size: patch.length,
        sha256: sha256(patch),
        createdAt: '2026-01-01T00:00:00.000Z',
      },
    });
    expect(patch.length).toBeLessThan(t.image.length / 20);
    expect(await t.deltas.listDeltas('rel-2.0.0')).toEqual([result.delta]);
  });

  it('reads the pinned object versions, not whatever was written to the keys later', async () => {
    t.storage.put('artifacts/art-base', randomBytes(1000));
    t.storage.put('artifacts/art-image', randomBytes(1000));

    const result = await t.build(t.request);

    expect(result.delta?.status).toBe('ready');
  });

  it.each(['base', 'image'] as const)(
    'refuses, writing nothing, when the %s is not the pinned image',
    async (which) => {
      const tampered = { ...t.request, [which]: { ...t.request[which], sha256: 'f'.repeat(64) } };

      await expect(t.build(tampered)).rejects.toThrow(DeltaInputMismatchError);
      expect(t.storage.keys().filter((k) => k.startsWith('deltas/'))).toEqual([]);
      expect(await t.deltas.listDeltas('rel-2.0.0')).toEqual([]);
    },
  );

  it('refuses, writing nothing, when an input is missing or has another size', async () => {
    const missing = { ...t.request, base: { ...t.request.base, versionId: 'no-such-version' } };
    const resized = { ...t.request, image: { ...t.request.image, size: t.image.length + 1 } };

    await expect(t.build(missing)).rejects.toThrow(/is nothing/);
    await expect(t.build(resized)).rejects.toThrow(DeltaInputMismatchError);
    expect(t.storage.keys().filter((k) => k.startsWith('deltas/'))).toEqual([]);
    expect(await t.deltas.listDeltas('rel-2.0.0')).toEqual([]);
  });

  it('records a patch of 90 % of the image or more as not worth it, and stores no object', async () => {
    const unrelated = randomBytes(t.image.length);
    const versionId = t.storage.put('artifacts/art-unrelated', unrelated);
    const request = {
      ...t.request,
      image: { key: 'artifacts/art-unrelated', versionId, sha256: sha256(unrelated), size: unrelated.length },
    };

    const result = await t.build(request);

    expect(result.delta).toMatchObject({ status: 'not-worth-it', imageSha256: sha256(unrelated) });
    expect(result.delta?.s3Key).toBeUndefined();
    expect(t.storage.keys().filter((k) => k.startsWith('deltas/'))).toEqual([]);
  });

  it('leaves a delta already recorded alone', async () => {
    const first = await t.build(t.request);

    const second = await t.build(t.request);

    expect(second).toEqual({ outcome: 'already-recorded', delta: first.delta });
    expect(t.storage.versionsOf(t.request.deltaKey)).toHaveLength(1);
  });
});

describe('build delta event', () => {
  const build = setup().request;
  const event = { schema: 'edgeops.build-delta.v1', rolloutId: 'ro-0123456789ab', build };

  it('accepts what plan-deltas makes', () => {
    expect(BuildDeltaEventV1.parse(event).build).toEqual(build);
  });

  it('refuses a patch key other than the one its release, hardware type, component and base name', () => {
    expect(
      BuildDeltaEventV1.safeParse({ ...event, build: { ...build, deltaKey: 'artifacts/x' } }).success,
    ).toBe(false);
    expect(BuildDeltaEventV1.safeParse({ ...event, build: { ...build, component: 'model' } }).success).toBe(
      false,
    );
  });

  it(`keeps a plan of ${MAX_DELTA_BUILDS} of the longest builds within the 256 KB Step Functions state`, () => {
    const releaseId = `rel-${'9'.repeat(60)}`;
    const hardwareType = 'h'.repeat(64);
    const component = 'c'.repeat(32);
    const longest = BuildDeltaEventV1.parse({
      ...event,
      build: {
        releaseId,
        version: '9'.repeat(60),
        hardwareType,
        component,
        base: {
          releaseId,
          version: '9'.repeat(60),
          key: 'artifacts/art-00000000-0000-4000-8000-000000000000',
          versionId: 'v'.repeat(64),
          sha256: 'a'.repeat(64),
          size: 2 ** 28 - 1,
        },
        image: {
          key: 'artifacts/art-00000000-0000-4000-8000-000000000001',
          versionId: 'v'.repeat(64),
          sha256: 'b'.repeat(64),
          size: 2 ** 28 - 1,
        },
        deltaKey: deltaKey(releaseId, hardwareType, component, 'a'.repeat(64)),
        deviceCount: 1_000_000,
      },
    }).build;

    const plan = JSON.stringify({ deltas: { builds: Array(MAX_DELTA_BUILDS).fill(longest) } });

    expect(Buffer.byteLength(plan)).toBeLessThan(200 * 1024);
  });

  it('refuses inputs outside artifacts/', () => {
    const outside = { ...build, base: { ...build.base, key: 'deltas/x' } };
    expect(BuildDeltaEventV1.safeParse({ ...event, build: outside }).success).toBe(false);
  });
});

describe('plan deltas for a rollout', () => {
  const sha = (c: string) => c.repeat(64);
  const release = (version: string, c: string): ReleaseForRollout => ({
    releaseId: `rel-${version}`,
    version,
    components: {
      rpi4: [
        component(version, {
          key: `artifacts/art-${version}`,
          versionId: `v${version}`,
          size: 100,
          sha256: sha(c),
        }),
      ],
    },
  });
  const catalog = [release('1.0.0', 'a'), release('1.1.0', 'b'), release('2.0.0', 'c')];
  const releases: ReleaseCatalog = {
    getRelease: async (id) => catalog.find((r) => r.releaseId === id),
    findByVersion: async (v) => catalog.find((r) => r.version === v),
  };
  const rollout = (operation: Rollout['operation']): Rollout => ({
    rolloutId: 'ro-0123456789ab',
    releaseId: 'rel-2.0.0',
    version: '2.0.0',
    operation,
    target: { filter: {} },
    failurePolicy: 'halt',
    status: 'running',
    waves: [],
    currentWave: -1,
    createdAt: '2026-01-01T00:00:00Z',
    createdBy: 'ops',
    excludedCount: 0,
  });
  const execution = (deviceId: string, fromVersion: string): DeviceExecution => ({
    rolloutId: 'ro-0123456789ab',
    deviceId,
    waveIndex: 0,
    hardwareType: 'rpi4',
    site: 's',
    fromVersion,
    stage: 'pending',
    lastSeq: 0,
  });

  it('names the exact objects to read and where the patch goes, for bases not built yet', async () => {
    const rollouts = new InMemoryRolloutStore();
    const deltas = new InMemoryDeltaStore();
    await createRolloutWith(rollouts, rollout('install'), [
      execution('d1', '1.0.0'),
      execution('d2', '1.1.0'),
      execution('d3', '1.1.0'),
      execution('d4', '2.0.0'),
    ]);
    await deltas.putDelta({
      releaseId: 'rel-2.0.0',
      hardwareType: 'rpi4',
      component: 'firmware',
      baseSha256: sha('a'),
      baseSize: 100,
      baseVersion: '1.0.0',
      imageSha256: sha('c'),
      imageSize: 100,
      status: 'not-worth-it',
      createdAt: '2026-01-01T00:00:00Z',
    });

    const plan = await makePlanDeltas({ rollouts, releases, deltas })('ro-0123456789ab');

    expect(plan.builds).toEqual([
      {
        releaseId: 'rel-2.0.0',
        version: '2.0.0',
        hardwareType: 'rpi4',
        component: 'firmware',
        base: {
          releaseId: 'rel-1.1.0',
          version: '1.1.0',
          key: 'artifacts/art-1.1.0',
          versionId: 'v1.1.0',
          sha256: sha('b'),
          size: 100,
        },
        image: { key: 'artifacts/art-2.0.0', versionId: 'v2.0.0', sha256: sha('c'), size: 100 },
        deltaKey: `deltas/rel-2.0.0/rpi4/firmware/${sha('b')}.zst`,
        deviceCount: 2,
      },
    ]);
    expect(
      BuildDeltaEventV1.safeParse({
        schema: 'edgeops.build-delta.v1',
        rolloutId: 'ro-0123456789ab',
        build: plan.builds[0],
      }).success,
    ).toBe(true);
  });

  it('plans nothing for a rollback rollout, which ships full images', async () => {
    const rollouts = new InMemoryRolloutStore();
    await createRolloutWith(rollouts, { ...rollout('rollback'), releaseId: 'rel-1.0.0', version: '1.0.0' }, [
      execution('d1', '2.0.0'),
    ]);

    const plan = await makePlanDeltas({ rollouts, releases, deltas: new InMemoryDeltaStore() })(
      'ro-0123456789ab',
    );

    expect(plan.builds).toEqual([]);
  });
});
