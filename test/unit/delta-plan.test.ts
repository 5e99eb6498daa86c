import { describe, expect, it } from 'vitest';
import {
  deltaKey,
  MAX_DELTA_BUILDS,
  MAX_DELTA_INPUT_BYTES,
  MAX_DELTAS_PER_IMAGE,
  planDeltas,
  type ReleaseImages,
  worthSending,
} from '../../functions/domain/delta';

const sha = (c: string) => c.repeat(64);
/** A single-image release: hardware type → the character its image's SHA-256 repeats. */
const release = (version: string, images: Record<string, string>, size = 1000): ReleaseImages =>
  withComponents(
    version,
    Object.fromEntries(Object.entries(images).map(([hw, c]) => [hw, { firmware: c }])),
    size,
  );
/** hardware type → component → the character its image's SHA-256 repeats. */
const withComponents = (
  version: string,
  images: Record<string, Record<string, string>>,
  size = 1000,
): ReleaseImages => ({
  releaseId: `rel-${version}`,
  version,
  images: Object.entries(images).flatMap(([hardwareType, components]) =>
    Object.entries(components).map(([component, c]) => ({
      hardwareType,
      component,
      key: `artifacts/art-${version}-${hardwareType}-${component}`,
      versionId: `v-${version}-${hardwareType}-${component}`,
      size,
      sha256: sha(c),
    })),
  ),
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
      component: 'firmware',
      base: {
        releaseId: 'rel-1.0.0',
        version: '1.0.0',
        hardwareType: 'rpi4',
        component: 'firmware',
        key: 'artifacts/art-1.0.0-rpi4-firmware',
        versionId: 'v-1.0.0-rpi4-firmware',
        size: 1000,
        sha256: sha('c'),
      },
      image: {
        hardwareType: 'rpi4',
        component: 'firmware',
        key: 'artifacts/art-2.0.0-rpi4-firmware',
        versionId: 'v-2.0.0-rpi4-firmware',
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
        { releaseId: 'rel-2.0.0', hardwareType: 'rpi4', component: 'firmware', baseSha256: sha('c') },
        { releaseId: 'rel-2.0.0', hardwareType: 'jetson', component: 'firmware', baseSha256: sha('d') },
        // Another release's delta from the same base does not count, nor another component's.
        { releaseId: 'rel-3.0.0', hardwareType: 'rpi4', component: 'firmware', baseSha256: sha('e') },
        { releaseId: 'rel-2.0.0', hardwareType: 'rpi4', component: 'app', baseSha256: sha('e') },
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

describe('planDeltas for a release of several components', () => {
  const next = withComponents('2.0.0', {
    rpi4: { rootfs: 'a', app: 'b', config: 'c', model: 'd' },
    jetson: { rootfs: 'e' },
  });

  it('plans per hardware type and component, from the same component of the base release', () => {
    const base = withComponents('1.0.0', {
      rpi4: { rootfs: '1', app: '2', config: 'c' },
      jetson: { rootfs: '3', app: '4' },
    });

    const builds = planDeltas(next, [device('rpi4', '1.0.0'), device('jetson', '1.0.0')], [base], []);

    // config is unchanged (the device skips it), model is new (no base), jetson has no app now.
    expect(builds.map((b) => [b.hardwareType, b.component, b.base.sha256, b.image.sha256])).toEqual([
      ['jetson', 'rootfs', sha('3'), sha('e')],
      ['rpi4', 'app', sha('2'), sha('b')],
      ['rpi4', 'rootfs', sha('1'), sha('a')],
    ]);
    expect(builds.every((b) => b.base.component === b.component && b.image.component === b.component)).toBe(
      true,
    );
  });

  it('takes a single-image base release as its one component, firmware', () => {
    const target = withComponents('2.0.0', { rpi4: { firmware: 'a', app: 'b' } });

    const builds = planDeltas(target, [device('rpi4', '1.0.0')], [release('1.0.0', { rpi4: 'c' })], []);

    expect(builds.map((b) => [b.component, b.base.sha256])).toEqual([['firmware', sha('c')]]);
  });

  it('keeps MAX_DELTAS_PER_IMAGE bases per component, and MAX_DELTA_BUILDS in all', () => {
    const components = ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];
    const hardware = Array.from({ length: 16 }, (_, h) => `hw${h}`);
    const imagesOf = (v: number) =>
      Object.fromEntries(
        hardware.map((hw, h) => [
          hw,
          Object.fromEntries(components.map((c, i) => [c, ((v * 128 + h * 8 + i) % 15).toString(16)])),
        ]),
      );
    const bases = Array.from({ length: 10 }, (_, v) => withComponents(`1.${v}.0`, imagesOf(v)));
    const target = withComponents('2.0.0', { ...imagesOf(99), hw0: { c0: 'f' } });
    const devices = bases.flatMap((b, v) =>
      hardware.flatMap((hw) => Array.from({ length: v + 1 }, () => device(hw, b.version))),
    );

    const builds = planDeltas(target, devices, bases, []);

    expect(builds).toHaveLength(MAX_DELTA_BUILDS);
    const perImage = new Map<string, number>();
    for (const b of builds) {
      const id = `${b.hardwareType}/${b.component}`;
      perImage.set(id, (perImage.get(id) ?? 0) + 1);
    }
    expect(Math.max(...perImage.values())).toBeLessThanOrEqual(MAX_DELTAS_PER_IMAGE);
    // The bases most devices run come first.
    expect(builds.every((b) => b.deviceCount >= (builds.at(-1)?.deviceCount ?? 0))).toBe(true);
    expect(builds[0]?.deviceCount).toBe(10);
  });
});

describe('delta keys and worth', () => {
  it('stores a delta under deltas/<release>/<hardware type>/<component>/<base sha>.zst', () => {
    expect(deltaKey('rel-2.0.0', 'rpi4', 'app', sha('c'))).toBe(`deltas/rel-2.0.0/rpi4/app/${sha('c')}.zst`);
  });

  it('offers a patch only below 90 % of the image', () => {
    expect(worthSending(899, 1000)).toBe(true);
    expect(worthSending(900, 1000)).toBe(false);
  });
});
