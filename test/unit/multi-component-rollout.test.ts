/**
 * A release of several components through a rollout's signing and job creation, on in-memory
 * adapters: what is signed about each component (targets.json as devices read it) and the job
 * document a wave carries; a single-image release keeps the v2 paths, facts and document.
 */
import { describe, expect, it } from 'vitest';
import { type JobDocumentV2, JobDocumentV3, SignedTargetFacts } from '../../contract/ota';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { InMemoryJobDispatcher } from '../../functions/adapters/in-memory-job-dispatcher';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { InMemoryTrustFiles, InMemoryTrustStore } from '../../functions/adapters/in-memory-trust-repository';
import { LocalKeySigner } from '../../functions/adapters/local-key-signer';
import type { Delta } from '../../functions/domain/delta';
import type { DeviceExecution, Rollout } from '../../functions/domain/rollout';
import { buildRoot, DEFAULT_LIFETIMES, signMetadata } from '../../functions/domain/tuf-metadata';
import type { ReleaseCatalog, ReleaseForRollout } from '../../functions/ports/release-catalog';
import { makeCreateWaveJob, makeStartWave } from '../../functions/use-cases/rollouts/run-waves';
import { makePublishTrust } from '../../functions/use-cases/trust/publish-trust';
import { makeSignRollout } from '../../functions/use-cases/trust/sign-rollout';
import { createRolloutWith, FIXTURE_ROLLOUT_ID, rolloutFixture } from './rollout-fixtures';
import { component, release as singleImage } from './rollout-harness';

const sha = (c: string) => c.repeat(64);
const RO = FIXTURE_ROLLOUT_ID;

/** rel-2.0.0: rootfs + app + config for rpi4 (config with settings), rootfs + model for jetson. */
const multi: ReleaseForRollout = {
  releaseId: 'rel-2.0.0',
  version: '2.0.0',
  components: {
    rpi4: [
      component('2.0.0', { name: 'rootfs', order: 0, key: 'artifacts/rpi4-rootfs', sha256: sha('1') }),
      component('7.1', {
        name: 'app',
        handler: 'docker-compose',
        order: 1,
        key: 'artifacts/rpi4-app',
        sha256: sha('2'),
      }),
      component('2026.1', {
        name: 'config',
        handler: 'file',
        order: 3,
        settings: { path: '/etc/edge/config.yaml', 'restart-unit': 'edge.service' },
        key: 'artifacts/rpi4-config',
        sha256: sha('3'),
      }),
    ],
    jetson: [
      component('2.0.0', { name: 'rootfs', order: 0, key: 'artifacts/jetson-rootfs', sha256: sha('4') }),
      component('0.9', {
        name: 'model',
        handler: 'file',
        order: 2,
        key: 'artifacts/jetson-model',
        sha256: sha('5'),
      }),
    ],
  },
  downloadLimits: { jetson: { minBytesPerSecond: 4096, maxSeconds: 86_400 } },
};

const delta = (hardwareType: string, name: string, base: string, image: string): Delta => ({
  releaseId: 'rel-2.0.0',
  hardwareType,
  component: name,
  baseSha256: sha(base),
  baseSize: 10,
  baseVersion: '1.0.0',
  imageSha256: sha(image),
  imageSize: 10,
  status: 'ready',
  s3Key: `deltas/rel-2.0.0/${hardwareType}/${name}/${sha(base)}.zst`,
  size: 3,
  sha256: sha('d'),
  createdAt: '2026-01-01T00:00:00.000Z',
});

const online = LocalKeySigner.generate('ecdsa');
const rootKey = LocalKeySigner.generate();

async function setup(release: ReleaseForRollout, rollout: Partial<Rollout> = {}, deltas: Delta[] = []) {
  const rollouts = new InMemoryRolloutStore();
  const execution: DeviceExecution = {
    rolloutId: RO,
    deviceId: 'd1',
    waveIndex: 0,
    hardwareType: 'rpi4',
    site: 's',
    fromVersion: '1.0.0',
    stage: 'pending',
    lastSeq: 0,
  };
  await createRolloutWith(
    rollouts,
    rolloutFixture({
      releaseId: release.releaseId,
      version: release.version,
      waves: [{ ...rolloutFixture().waves[0], status: 'pending' } as Rollout['waves'][number]],
      currentWave: -1,
      ...rollout,
    }),
    [execution],
  );
  const releases: ReleaseCatalog = {
    getRelease: async (id) => (id === release.releaseId ? release : undefined),
    findByVersion: async () => undefined,
  };
  const deltaStore = new InMemoryDeltaStore();
  for (const d of deltas) await deltaStore.putDelta(d);
  const store = new InMemoryTrustStore();
  const files = new InMemoryTrustFiles();
  const clock = { now: () => new Date('2026-03-01T00:00:00Z') };
  const publish = makePublishTrust({
    store,
    files,
    signers: async () => [online],
    clock: { now: () => new Date() },
    lifetimes: DEFAULT_LIFETIMES,
  });
  const root = buildRoot({
    version: 1,
    expires: new Date(Date.now() + 86_400_000),
    rootKeys: [rootKey.publicKey],
    threshold: 1,
    online: { targets: [online.publicKey], snapshot: [online.publicKey], timestamp: [online.publicKey] },
  });
  await publish({ kind: 'root', root: (await signMetadata(root, [rootKey])).toJSON() });
  const jobs = new InMemoryJobDispatcher();
  return {
    sign: makeSignRollout({
      rollouts,
      releases,
      deltas: deltaStore,
      publish,
      clock,
      rollbackValidHours: 24,
    }),
    /** Path → what the signed targets.json says about it (`custom.edgeops`). */
    signedTargets: () => {
      const targets = JSON.parse(String(files.files.get('targets.json'))) as {
        signed: { targets: Record<string, { length: number; custom: { edgeops: unknown } }> };
      };
      return Object.fromEntries(
        Object.entries(targets.signed.targets).map(([path, t]) => [
          path,
          SignedTargetFacts.parse(t.custom.edgeops),
        ]),
      );
    },
    /** The document of wave 0's job. */
    waveJob: async () => {
      await makeStartWave({ rollouts, jobs, clock })(RO, 0);
      await makeCreateWaveJob({
        rollouts,
        releases,
        deltas: deltaStore,
        trust: { store, files },
        jobs,
        settings: { healthCheckSeconds: 30 },
      })(RO, 0);
      return jobs.jobs.get(`${RO}-w0`)?.document;
    },
  };
}

describe('signing a rollout of a release of several components', () => {
  it('signs one target per component per hardware type, each with its component facts', async () => {
    const t = await setup(multi);

    await t.sign(RO);

    const signed = t.signedTargets();
    expect(Object.keys(signed).sort()).toEqual([
      'rel-2.0.0/jetson/model/image',
      'rel-2.0.0/jetson/rootfs/image',
      'rel-2.0.0/rpi4/app/image',
      'rel-2.0.0/rpi4/config/image',
      'rel-2.0.0/rpi4/rootfs/image',
    ]);
    expect(signed['rel-2.0.0/rpi4/config/image']).toEqual({
      releaseId: 'rel-2.0.0',
      version: '2.0.0',
      hardwareType: 'rpi4',
      kind: 'image',
      component: {
        name: 'config',
        handler: 'file',
        order: 3,
        version: '2026.1',
        settings: { path: '/etc/edge/config.yaml', 'restart-unit': 'edge.service' },
      },
    });
    expect(signed['rel-2.0.0/jetson/model/image']?.component).toEqual({
      name: 'model',
      handler: 'file',
      order: 2,
      version: '0.9',
      settings: {},
    });
  });

  it('signs each ready delta under its component, with the component facts and the images it links', async () => {
    const t = await setup(multi, {}, [
      delta('rpi4', 'app', 'a', '2'),
      delta('rpi4', 'rootfs', 'b', '1'),
      // A delta to an image the release does not hold is not signed.
      delta('rpi4', 'config', 'c', 'f'),
    ]);

    await t.sign(RO);

    const signed = t.signedTargets();
    expect(signed[`rel-2.0.0/rpi4/app/delta-${sha('a')}`]).toEqual({
      releaseId: 'rel-2.0.0',
      version: '2.0.0',
      hardwareType: 'rpi4',
      kind: 'delta',
      base: { sha256: sha('a'), length: 10 },
      image: { sha256: sha('2'), length: 10 },
      component: { name: 'app', handler: 'docker-compose', order: 1, version: '7.1', settings: {} },
    });
    expect(signed[`rel-2.0.0/rpi4/rootfs/delta-${sha('b')}`]?.component?.name).toBe('rootfs');
    expect(Object.keys(signed).filter((p) => p.includes('/config/delta-'))).toEqual([]);
  });

  it('signs a rollback per component under rollback/<rollout>/<hardware type>/<component>/image', async () => {
    const t = await setup(multi, { operation: 'rollback' });

    await t.sign(RO);

    const signed = t.signedTargets();
    expect(
      Object.keys(signed)
        .filter((p) => p.startsWith('rollback/'))
        .sort(),
    ).toEqual([
      `rollback/${RO}/jetson/model/image`,
      `rollback/${RO}/jetson/rootfs/image`,
      `rollback/${RO}/rpi4/app/image`,
      `rollback/${RO}/rpi4/config/image`,
      `rollback/${RO}/rpi4/rootfs/image`,
    ]);
    expect(signed[`rollback/${RO}/rpi4/app/image`]).toMatchObject({
      kind: 'image',
      rollback: { rolloutId: RO, notAfter: '2026-03-02T00:00:00.000Z' },
      component: { name: 'app', order: 1 },
    });
  });

  it('signs a single-image release as before: single-image paths and no component facts', async () => {
    const t = await setup(singleImage('2.0.0'), {}, [
      { ...delta('rpi4', 'firmware', 'b', 'a'), s3Key: `deltas/rel-2.0.0/rpi4/firmware/${sha('b')}.zst` },
    ]);

    await t.sign(RO);

    const signed = t.signedTargets();
    expect(Object.keys(signed).sort()).toEqual([`rel-2.0.0/rpi4/delta-${sha('b')}`, 'rel-2.0.0/rpi4/image']);
    expect(Object.values(signed).some((facts) => 'component' in facts)).toBe(false);
  });
});

describe('the job document of a wave', () => {
  it('is v3 for a release of several components: per hardware type its components in install order', async () => {
    const t = await setup(multi, {}, [delta('rpi4', 'app', 'a', '2'), delta('rpi4', 'app', 'b', '2')]);
    await t.sign(RO);

    const document = JobDocumentV3.parse(await t.waveJob());

    expect(document).toMatchObject({
      schema: 'edgeops.ota.v3',
      rolloutId: RO,
      waveIndex: 0,
      operation: 'install',
      release: { releaseId: 'rel-2.0.0', version: '2.0.0' },
      healthCheckSeconds: 30,
    });
    expect(Object.keys(document.trust.metadata).sort()).toEqual([
      'snapshot.json',
      'targets.json',
      'timestamp.json',
    ]);
    expect(document.artifacts).toEqual([
      {
        hardwareType: 'rpi4',
        components: [
          {
            name: 'rootfs',
            target: 'rel-2.0.0/rpi4/rootfs/image',
            url: 's3://b/artifacts/rpi4-rootfs',
            deltas: [],
          },
          {
            name: 'app',
            target: 'rel-2.0.0/rpi4/app/image',
            url: 's3://b/artifacts/rpi4-app',
            deltas: ['a', 'b'].map((base) => ({
              baseSha256: sha(base),
              target: `rel-2.0.0/rpi4/app/delta-${sha(base)}`,
              url: `s3://b/deltas/rel-2.0.0/rpi4/app/${sha(base)}.zst`,
            })),
          },
          {
            name: 'config',
            target: 'rel-2.0.0/rpi4/config/image',
            url: 's3://b/artifacts/rpi4-config',
            deltas: [],
          },
        ],
      },
      {
        hardwareType: 'jetson',
        components: [
          expect.objectContaining({ name: 'rootfs', target: 'rel-2.0.0/jetson/rootfs/image' }),
          expect.objectContaining({ name: 'model', target: 'rel-2.0.0/jetson/model/image' }),
        ],
        download: { minBytesPerSecond: 4096, maxSeconds: 86_400 },
      },
    ]);
    // Every target the document names is signed.
    const signed = t.signedTargets();
    for (const target of document.artifacts.flatMap((a) =>
      a.components.flatMap((c) => [c.target, ...c.deltas.map((d) => d.target)]),
    ))
      expect(signed[target], target).toBeDefined();
  });

  it('names the rollback targets of each component for a rollback rollout', async () => {
    const t = await setup(multi, { operation: 'rollback' });
    await t.sign(RO);

    const document = JobDocumentV3.parse(await t.waveJob());

    expect(document.operation).toBe('rollback');
    expect(document.artifacts.flatMap((a) => a.components.map((c) => c.target))).toEqual([
      `rollback/${RO}/rpi4/rootfs/image`,
      `rollback/${RO}/rpi4/app/image`,
      `rollback/${RO}/rpi4/config/image`,
      `rollback/${RO}/jetson/rootfs/image`,
      `rollback/${RO}/jetson/model/image`,
    ]);
  });

  it('is v2 for a single-image release, as every agent takes', async () => {
    const t = await setup(singleImage('2.0.0'));
    await t.sign(RO);

    const document = (await t.waveJob()) as JobDocumentV2;

    expect(document.schema).toBe('edgeops.ota.v2');
    expect(document.artifacts).toEqual([
      { hardwareType: 'rpi4', target: 'rel-2.0.0/rpi4/image', url: 's3://b/artifacts/2.0.0', deltas: [] },
    ]);
  });

  it('goes out as v3 when a single-image release has download limits (v2 has no place for them)', async () => {
    const limited = { ...singleImage('2.0.0'), downloadLimits: { rpi4: { maxSeconds: 600 } } };
    const t = await setup(limited);
    await t.sign(RO);

    const document = JobDocumentV3.parse(await t.waveJob());

    expect(document.artifacts).toEqual([
      {
        hardwareType: 'rpi4',
        components: [
          {
            name: 'firmware',
            target: 'rel-2.0.0/rpi4/firmware/image',
            url: 's3://b/artifacts/2.0.0',
            deltas: [],
          },
        ],
        download: { maxSeconds: 600 },
      },
    ]);
    expect(t.signedTargets()['rel-2.0.0/rpi4/firmware/image']?.component).toEqual({
      name: 'firmware',
      handler: 'rootfs',
      order: 0,
      version: '2.0.0',
      settings: {},
    });
  });
});
