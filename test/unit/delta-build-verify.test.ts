import { randomBytes } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { InMemoryArtifactStorage } from '../../functions/adapters/in-memory-artifact-storage';
import { InMemoryDeltaStore } from '../../functions/adapters/in-memory-delta-store';
import { deltaKey } from '../../functions/domain/delta';
import { makeBuildDelta } from '../../functions/use-cases/build-delta';
import { sha256 } from '../support/bytes';

/** A codec that makes a valid patch, but to the wrong image: what the round trip must catch. */
vi.mock('../../contract/zstd-delta', async (importOriginal) => {
  const codec = await importOriginal<typeof import('../../contract/zstd-delta')>();
  return {
    ...codec,
    createDelta: (base: Buffer, image: Buffer) =>
      codec.createDelta(base, Buffer.concat([image.subarray(0, -1), Buffer.from([(image.at(-1) ?? 0) ^ 1])])),
  };
});

describe('build delta round trip', () => {
  it('stores and records nothing when the patch does not rebuild exactly the image', async () => {
    const storage = new InMemoryArtifactStorage();
    const deltas = new InMemoryDeltaStore();
    const base = randomBytes(64 * 1024);
    const image = Buffer.concat([base, Buffer.from('v2')]);
    const build = makeBuildDelta({ storage, deltas, clock: { now: () => new Date() } });

    await expect(
      build({
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
        deviceCount: 1,
      }),
    ).rejects.toThrow(/rebuilds .* not the image/);
    expect(storage.keys()).toEqual(['artifacts/base', 'artifacts/image']);
    expect(await deltas.listDeltas('rel-2.0.0')).toEqual([]);
  });
});
