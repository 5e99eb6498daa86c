import { describe, expect, it } from 'vitest';
import {
  deltaKey,
  MAX_DELTA_INPUT_BYTES,
  MAX_DELTAS_PER_IMAGE,
  planDeltas,
  type ReleaseImages,
  worthSending,
} from '../../functions/domain/delta';

const sha = (c: string) => c.repeat(64);
const release = (version: string, images: Record<string, string>, size = 1000): ReleaseImages => ({
  releaseId: `rel-${version}`,
  version,
  artifacts: Object.entries(images).map(([hardwareType, c]) => ({
    hardwareType,
    key: `artifacts/art-${version}-${hardwareType}`,
    versionId: `v-${version}-${hardwareType}`,
    size,
    sha256: sha(c),
  })),
});
const device = (hardwareType: string, fromVersion?: string) => ({
  hardwareType,
  ...(fromVersion === undefined ? {} : { fromVersion }),
});

const target = release('2.0.0', { rpi4: 'a', jetson: 'b' });
const v1 = release('1.0.0', { rpi4: 'c', jetson: 'd' });
const v15 = release('1.5.0', { rpi4: 'e' });

describe('planDeltas', () => {
  it('plans one build per hardware type and base image, counting the devices on each', () => {
    const builds = planDeltas(
      target,
      [device('rpi4', '1.0.0'), device('rpi4', '1.0.0'), device('rpi4', '1.5.0'), device('jetson', '1.0.0')],
      [v1, v15],
      [],
    );

    expect(builds.map((b) => [b.hardwareType, b.base.version, b.base.sha256, b.deviceCount])).toEqual([
      ['rpi4', '1.0.0', sha('c'), 2],
      ['jetson', '1.0.0', sha('d'), 1],
      ['rpi4', '1.5.0', sha('e'), 1],
    ]);
    expect(builds[0]).toEqual({
      releaseId: 'rel-2.0.0',
      version: '2.0.0',
      hardwareType: 'rpi4',
      base: {
        releaseId: 'rel-1.0.0',
        version: '1.0.0',
        hardwareType: 'rpi4',
        key: 'artifacts/art-1.0.0-rpi4',
        versionId: 'v-1.0.0-rpi4',
        size: 1000,
        sha256: sha('c'),
      },
      image: {
        hardwareType: 'rpi4',
        key: 'artifacts/art-2.0.0-rpi4',
        versionId: 'v-2.0.0-rpi4',
        size: 1000,
        sha256: sha('a'),
      },
      deviceCount: 2,
    });
  });

  it('builds one delta for two releases that shipped the same base image', () => {
    const v11 = release('1.1.0', { rpi4: 'c' });

    const builds = planDeltas(target, [device('rpi4', '1.0.0'), device('rpi4', '1.1.0')], [v1, v11], []);

    expect(builds.map((b) => [b.base.sha256, b.deviceCount])).toEqual([[sha('c'), 2]]);
  });

  it('skips devices already on the release, by version or by image', () => {
    const sameImage = release('1.9.0', { rpi4: 'a' });

    expect(
      planDeltas(target, [device('rpi4', '2.0.0'), device('rpi4', '1.9.0')], [sameImage, target], []),
    ).toEqual([]);
  });

  it('skips devices with no known base: no fromVersion, an unknown version, no image for their hardware', () => {
    const builds = planDeltas(
      target,
      [device('rpi4'), device('rpi4', '0.9.0'), device('jetson', '1.5.0'), device('other-hw', '1.0.0')],
      [v1, v15],
      [],
    );

    expect(builds).toEqual([]);
  });

  it('skips deltas already recorded for the release, ready or not worth it', () => {
    const builds = planDeltas(
      target,
      [device('rpi4', '1.0.0'), device('jetson', '1.0.0'), device('rpi4', '1.5.0')],
      [v1, v15],
      [
        { releaseId: 'rel-2.0.0', hardwareType: 'rpi4', baseSha256: sha('c') },
        { releaseId: 'rel-2.0.0', hardwareType: 'jetson', baseSha256: sha('d') },
        // Another release's delta from the same base does not count.
        { releaseId: 'rel-3.0.0', hardwareType: 'rpi4', baseSha256: sha('e') },
      ],
    );

    expect(builds.map((b) => b.base.sha256)).toEqual([sha('e')]);
  });

  it('skips images larger than a build can hold', () => {
    const big = release('2.0.0', { rpi4: 'a' }, MAX_DELTA_INPUT_BYTES + 1);

    expect(planDeltas(big, [device('rpi4', '1.0.0')], [v1], [])).toEqual([]);
  });

  it('keeps at most MAX_DELTAS_PER_IMAGE bases per hardware type, those with most devices', () => {
    const bases = Array.from({ length: MAX_DELTAS_PER_IMAGE + 2 }, (_, i) =>
      release(`1.${i}.0`, { rpi4: (i + 1).toString(16) }),
    );
    // Base i runs on i + 1 devices: the two least used bases (0 and 1) are dropped.
    const devices = bases.flatMap((b, i) => Array.from({ length: i + 1 }, () => device('rpi4', b.version)));

    const builds = planDeltas(release('2.0.0', { rpi4: 'f' }), devices, bases, []);

    expect(builds).toHaveLength(MAX_DELTAS_PER_IMAGE);
    expect(builds.map((b) => b.base.version)).not.toContain('1.0.0');
    expect(builds.map((b) => b.base.version)).not.toContain('1.1.0');
    expect(builds[0]?.deviceCount).toBe(MAX_DELTAS_PER_IMAGE + 2);
  });
});

describe('delta keys and worth', () => {
  it('stores a delta under deltas/<release>/<hardware type>/<base sha>.zst', () => {
    expect(deltaKey('rel-2.0.0', 'rpi4', sha('c'))).toBe(`deltas/rel-2.0.0/rpi4/${sha('c')}.zst`);
  });

  it('offers a patch only below 90 % of the image', () => {
    expect(worthSending(899, 1000)).toBe(true);
    expect(worthSending(900, 1000)).toBe(false);
  });
});
