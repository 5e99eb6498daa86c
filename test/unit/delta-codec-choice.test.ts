import { describe, expect, it } from 'vitest';
import { collectEdgd } from '../../contract/delta-edgd-apply';
import { createEdgdDelta } from '../../contract/delta-edgd-create';
import { createDelta } from '../../contract/zstd-delta';
import { InMemoryArtifactStorage } from '../../functions/adapters/in-memory-artifact-storage';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { BuildDeltaEventV1 } from '../../functions/delta-building/schemas';
import { type Delta, deltaKey, patchesOf } from '../../functions/domain/delta';
import { basesOf } from '../../functions/domain/rollout';
import { type DeltaBuildRequest, makeBuildDelta } from '../../functions/use-cases/build-delta';
import { jobDocumentOf } from '../../functions/use-cases/rollouts/run-waves';
import { noise, sha256 } from '../support/bytes';
import { component } from './rollout-harness';

const clock = { now: () => new Date('2026-01-01T00:00:00Z') };

/**
 * Moved code: the base's bytes with a small difference every 64 bytes (addresses that changed),
 * which EDGD's approximate matches cover and zstd's exact ones do not.
 */
function movedCode() {
  const base = noise(300_000, 11);
  const image = Buffer.from(base);
  for (let i = 10_000; i < 290_000; i += 64) image[i] = ((image[i] ?? 0) + 4) & 0xff;
  return { base, image };
}

function setup(codecs: DeltaBuildRequest['codecs'], zstdOnlyDevices: number) {
  const storage = new InMemoryArtifactStorage();
  const deltas = new InMemoryDeltaStore();
  const { base, image } = movedCode();
  const request: DeltaBuildRequest = {
    releaseId: 'rel-2.0.0',
    version: '2.0.0',
    hardwareType: 'rpi4',
    component: 'firmware',
    base: {
      releaseId: 'rel-1.0.0',
      version: '1.0.0',
      key: 'artifacts/base',
      versionId: storage.put('artifacts/base', base),
      sha256: sha256(base),
      size: base.length,
    },
    image: {
      key: 'artifacts/image',
      versionId: storage.put('artifacts/image', image),
      sha256: sha256(image),
      size: image.length,
    },
    deltaKey: deltaKey('rel-2.0.0', 'rpi4', 'firmware', sha256(base)),
    deviceCount: 4,
    ...(codecs ? { codecs } : {}),
    zstdOnlyDevices,
  };
  return { storage, deltas, base, image, request, build: makeBuildDelta({ storage, deltas, clock }) };
}

describe('build delta: choice of codec', () => {
  it('keeps the smaller EDGD patch, and the zstd one beside it for devices that apply only zstd', async () => {
    const t = setup(['zstd-patch-from', 'edgeops-bsdiff-v1'], 1);
    const [edgdSize, zstdSize] = [
      (await createEdgdDelta(t.base, t.image)).length,
      (await createDelta(t.base, t.image)).length,
    ];
    expect(edgdSize).toBeLessThan(zstdSize);

    const { delta } = await t.build(t.request);

    expect(delta).toMatchObject({
      status: 'ready',
      codec: 'edgeops-bsdiff-v1',
      s3Key: t.request.deltaKey.replace(/\.zst$/, '.edgd'),
      size: edgdSize,
      zstdPatch: { codec: 'zstd-patch-from', s3Key: t.request.deltaKey, size: zstdSize },
    });
    const stored = await t.storage.readBytes(delta?.s3Key ?? '', delta?.s3VersionId, 1e9);
    expect(sha256(await collectEdgd(t.base, stored ?? Buffer.alloc(0)))).toBe(sha256(t.image));
    expect(patchesOf(delta as Delta).map((p) => p.codec)).toEqual(['zstd-patch-from', 'edgeops-bsdiff-v1']);
  });

  it('keeps only the EDGD patch when every device on the base applies it', async () => {
    const t = setup(['zstd-patch-from', 'edgeops-bsdiff-v1'], 0);

    const { delta } = await t.build(t.request);

    expect(delta?.codec).toBe('edgeops-bsdiff-v1');
    expect(delta?.zstdPatch).toBeUndefined();
    expect(t.storage.keys().filter((k) => k.startsWith('deltas/'))).toEqual([delta?.s3Key]);
  });

  it('builds zstd only for a plan from before codecs, recorded as before (no codec field)', async () => {
    const t = setup(undefined, 4);

    const { delta } = await t.build(t.request);

    expect(delta).toMatchObject({ status: 'ready', s3Key: t.request.deltaKey });
    expect(delta?.codec).toBeUndefined();
    expect(delta?.zstdPatch).toBeUndefined();
  });

  it('accepts codecs in the builder event and refuses unknown or repeated ones, naming the field', () => {
    const event = (codecs: unknown) => ({
      schema: 'edgeops.build-delta.v1',
      rolloutId: 'ro-0123456789ab',
      build: { ...setup(undefined, 1).request, codecs },
    });
    expect(BuildDeltaEventV1.safeParse(event(['zstd-patch-from', 'edgeops-bsdiff-v1'])).success).toBe(true);
    const unknown = BuildDeltaEventV1.safeParse(event(['xdelta']));
    const repeated = BuildDeltaEventV1.safeParse(event(['zstd-patch-from', 'zstd-patch-from']));
    expect(unknown.error?.issues[0]?.path).toEqual(['build', 'codecs', 0]);
    expect(repeated.error?.issues[0]?.message).toBe('codecs must differ');
  });
});

describe('rollout bases: codec capability', () => {
  it('counts per base the devices that report EDGD', () => {
    const bases = basesOf(
      [
        { deviceId: 'a', hardwareType: 'rpi4', fromVersion: '1.0.0' },
        { deviceId: 'b', hardwareType: 'rpi4', fromVersion: '1.0.0' },
        { deviceId: 'c', hardwareType: 'rpi4', fromVersion: '1.1.0' },
      ],
      (id) => id === 'b',
    );
    expect(bases).toEqual([
      { hardwareType: 'rpi4', fromVersion: '1.0.0', devices: 2, edgdDevices: 1 },
      { hardwareType: 'rpi4', fromVersion: '1.1.0', devices: 1 },
    ]);
  });
});

describe('job document: delta offers per codec', () => {
  it('offers the zstd patch first at the old path and the EDGD one at its own path', () => {
    const image = component('2.0.0', { sha256: 'c'.repeat(64) });
    const delta: Delta = {
      releaseId: 'rel-2.0.0',
      hardwareType: 'rpi4',
      component: 'firmware',
      baseSha256: 'b'.repeat(64),
      baseSize: 10,
      baseVersion: '1.0.0',
      imageSha256: 'c'.repeat(64),
      imageSize: 10,
      status: 'ready',
      s3Key: 'deltas/x.edgd',
      size: 3,
      sha256: 'd'.repeat(64),
      codec: 'edgeops-bsdiff-v1',
      zstdPatch: { codec: 'zstd-patch-from', s3Key: 'deltas/x.zst', size: 5, sha256: 'e'.repeat(64) },
      createdAt: clock.now().toISOString(),
    };
    const document = jobDocumentOf({
      rolloutId: 'ro-1',
      waveIndex: 0,
      operation: 'install',
      release: { releaseId: 'rel-2.0.0', version: '2.0.0', components: { rpi4: [image] } },
      deltas: [delta],
      metadata: {},
      healthCheckSeconds: 0,
    });
    const offers = document.schema === 'edgeops.ota.v2' ? document.artifacts[0]?.deltas : undefined;
    expect(offers).toEqual([
      {
        baseSha256: 'b'.repeat(64),
        target: `rel-2.0.0/rpi4/delta-${'b'.repeat(64)}`,
        url: 's3://b/deltas/x.zst',
      },
      {
        baseSha256: 'b'.repeat(64),
        target: `rel-2.0.0/rpi4/delta-${'b'.repeat(64)}.edgd1`,
        url: 's3://b/deltas/x.edgd',
      },
    ]);
  });
});
