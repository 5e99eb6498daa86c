import { describe, expect, it } from 'vitest';
import { type Artifact, newArtifact } from '../../functions/domain/artifact';
import { ValidationError } from '../../functions/domain/errors';
import {
  composeRelease,
  isV2Compatible,
  MAX_HARDWARE_TYPES,
  type ReleasedComponent,
  targetPathsOf,
} from '../../functions/domain/release';

const now = new Date('2026-11-02T00:00:00Z');
let counter = 0;

function artifact(
  hardwareType: string,
  status: Artifact['status'] = 'ready',
  kind: Artifact['kind'] = 'firmware',
): Artifact {
  const id = `art-00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
  const base = newArtifact(id, { kind, hardwareType, version: '2.0.0', size: 42 }, { type: 'single' }, now);
  return status === 'ready'
    ? { ...base, status, sha256: 'b'.repeat(64), size: 42, s3VersionId: `v-${id}` }
    : { ...base, status };
}

const issuesOf = (call: () => unknown) => {
  try {
    call();
  } catch (error) {
    if (error instanceof ValidationError) return error.issues;
    throw error;
  }
  throw new Error('expected a ValidationError');
};

/** What the catalog holds for the listed ids. */
const found = (...artifacts: Artifact[]) => new Map(artifacts.map((a) => [a.artifactId, a]));

describe('composeRelease', () => {
  it('pins each ready artifact under its hardware type as one firmware component on rootfs', () => {
    const rpi = artifact('rpi4');
    const jetson = artifact('jetson');

    const release = composeRelease(
      { version: '2.0.0', artifactIds: [rpi.artifactId, jetson.artifactId], notes: 'spring' },
      found(rpi, jetson),
      now,
    );

    expect(release).toEqual({
      releaseId: 'rel-2.0.0',
      version: '2.0.0',
      notes: 'spring',
      createdAt: '2026-11-02T00:00:00.000Z',
      components: {
        rpi4: [
          {
            name: 'firmware',
            handler: 'rootfs',
            order: 0,
            settings: {},
            artifact: {
              artifactId: rpi.artifactId,
              kind: 'firmware',
              version: '2.0.0',
              s3Key: `artifacts/${rpi.artifactId}`,
              s3VersionId: `v-${rpi.artifactId}`,
              sha256: 'b'.repeat(64),
              size: 42,
            },
          },
        ],
        jetson: [
          expect.objectContaining({ artifact: expect.objectContaining({ artifactId: jetson.artifactId }) }),
        ],
      },
    });
    expect(isV2Compatible(release)).toBe(true);
  });

  it('names every artifact that is missing or not ready', () => {
    const ready = artifact('rpi4');
    const sealing = artifact('jetson', 'sealing');
    const missing = 'art-00000000-0000-4000-8000-999999999999';

    const issues = issuesOf(() =>
      composeRelease(
        { version: '2.0.0', artifactIds: [ready.artifactId, sealing.artifactId, missing] },
        found(ready, sealing),
        now,
      ),
    );

    expect(issues).toEqual([
      { field: 'artifacts.1', message: `${sealing.artifactId} is sealing, not ready` },
      { field: 'artifacts.2', message: `${missing} not found` },
    ]);
  });

  it('refuses a second artifact for the same hardware type', () => {
    const first = artifact('rpi4');
    const second = artifact('rpi4');

    const issues = issuesOf(() =>
      composeRelease(
        { version: '2.0.0', artifactIds: [first.artifactId, second.artifactId] },
        found(first, second),
        now,
      ),
    );

    expect(issues).toEqual([
      { field: 'artifacts.1', message: expect.stringContaining('hardware type rpi4') },
    ]);
  });

  it('refuses the same artifact listed twice', () => {
    const only = artifact('rpi4');

    const issues = issuesOf(() =>
      composeRelease({ version: '2.0.0', artifactIds: [only.artifactId, only.artifactId] }, found(only), now),
    );

    expect(issues).toEqual([{ field: 'artifacts.1', message: expect.stringContaining('already listed') }]);
  });
});

describe('composeRelease with components', () => {
  const rootfs = { rpi4: artifact('rpi4'), jetson: artifact('jetson') };
  const app = { rpi4: artifact('rpi4', 'ready', 'app') };
  const model = { jetson: artifact('jetson', 'ready', 'model') };
  const all = found(rootfs.rpi4, rootfs.jetson, app.rpi4, model.jetson);
  const components = [
    { name: 'rootfs', handler: 'rootfs', artifactIds: [rootfs.rpi4.artifactId, rootfs.jetson.artifactId] },
    {
      name: 'app',
      handler: 'docker-compose',
      settings: { 'health-url': 'http://localhost:8080/health' },
      artifactIds: [app.rpi4.artifactId],
    },
    { name: 'model', handler: 'file', artifactIds: [model.jetson.artifactId] },
  ];

  it('gives each hardware type its components in install order, numbered by their place in the release', () => {
    const release = composeRelease(
      { version: '3.0.0', components, downloadLimits: { rpi4: { maxSeconds: 3600 } } },
      all,
      now,
    );

    const layout = Object.fromEntries(
      Object.entries(release.components).map(([hw, cs]) => [hw, cs.map((c) => [c.name, c.handler, c.order])]),
    );
    expect(layout).toEqual({
      rpi4: [
        ['rootfs', 'rootfs', 0],
        ['app', 'docker-compose', 1],
      ],
      jetson: [
        ['rootfs', 'rootfs', 0],
        ['model', 'file', 2],
      ],
    });
    expect(release.components.rpi4?.[1]).toMatchObject({
      settings: { 'health-url': 'http://localhost:8080/health' },
      artifact: { artifactId: app.rpi4.artifactId, kind: 'app', sha256: 'b'.repeat(64), size: 42 },
    });
    expect(release.downloadLimits).toEqual({ rpi4: { maxSeconds: 3600 } });
    expect(isV2Compatible(release)).toBe(false);
  });

  it('names each offending entry by component and position', () => {
    const sealing = artifact('rpi4', 'sealing');
    const secondRpi = artifact('rpi4', 'ready', 'config');
    const missing = 'art-00000000-0000-4000-8000-999999999998';

    const issues = issuesOf(() =>
      composeRelease(
        {
          version: '3.0.0',
          components: [
            {
              name: 'rootfs',
              handler: 'rootfs',
              artifactIds: [rootfs.rpi4.artifactId, secondRpi.artifactId],
            },
            { name: 'app', handler: 'app', artifactIds: [sealing.artifactId, missing] },
            { name: 'app', handler: 'app', artifactIds: [app.rpi4.artifactId] },
            { name: 'config', handler: 'file', artifactIds: [rootfs.rpi4.artifactId] },
          ],
          downloadLimits: { 'jetson-nano': { maxSeconds: 60 } },
        },
        found(rootfs.rpi4, secondRpi, sealing, app.rpi4),
        now,
      ),
    );

    expect(issues).toEqual([
      {
        field: 'components.0.artifacts.1',
        message: `${secondRpi.artifactId} is a second artifact for hardware type rpi4 (components.0.artifacts.0)`,
      },
      { field: 'components.1.artifacts.0', message: `${sealing.artifactId} is sealing, not ready` },
      { field: 'components.1.artifacts.1', message: `${missing} not found` },
      { field: 'components.2.name', message: 'app is already the name of components.1' },
      {
        field: 'components.3.artifacts.0',
        message: `${rootfs.rpi4.artifactId} is already listed as components.0.artifacts.0`,
      },
      {
        field: 'downloadLimits.jetson-nano',
        message: 'no component of the release is for hardware type jetson-nano',
      },
    ]);
  });

  it(`refuses more than ${MAX_HARDWARE_TYPES} hardware types across components`, () => {
    const first = Array.from({ length: 10 }, (_, i) => artifact(`hw-${i}`));
    const second = Array.from({ length: 10 }, (_, i) => artifact(`hw-${i + 10}`, 'ready', 'app'));

    const issues = issuesOf(() =>
      composeRelease(
        {
          version: '3.0.0',
          components: [
            { name: 'rootfs', handler: 'rootfs', artifactIds: first.map((a) => a.artifactId) },
            { name: 'app', handler: 'app', artifactIds: second.map((a) => a.artifactId) },
          ],
        },
        found(...first, ...second),
        now,
      ),
    );

    expect(issues).toEqual([
      { field: 'components', message: expect.stringContaining('these artifacts are for 20') },
    ]);
  });
});

describe('isV2Compatible: which releases go out as before (v2 document, single-image paths)', () => {
  const component = (patch: Partial<ReleasedComponent> = {}) => ({
    name: 'firmware',
    handler: 'rootfs',
    settings: {},
    ...patch,
  });

  it('holds for one firmware component on rootfs, without settings or download limits, everywhere', () => {
    expect(isV2Compatible({ components: { rpi4: [component()], jetson: [component()] } })).toBe(true);
  });

  it.each([
    ['another name', { rpi4: [component()], jetson: [component({ name: 'rootfs' })] }, undefined],
    ['another handler', { rpi4: [component({ handler: 'rauc' })] }, undefined],
    ['settings', { rpi4: [component({ settings: { slot: 'a' } })] }, undefined],
    ['a second component', { rpi4: [component(), component({ name: 'app', handler: 'app' })] }, undefined],
    ['download limits', { rpi4: [component()] }, { rpi4: { maxSeconds: 60 } }],
  ])('does not hold with %s', (_case, components, downloadLimits) => {
    expect(isV2Compatible({ components, ...(downloadLimits ? { downloadLimits } : {}) })).toBe(false);
  });

  it('keeps the single-image target paths for a v2-compatible release, and names the component otherwise', () => {
    const single = { components: { rpi4: [component()] } };
    const multi = { components: { rpi4: [component(), component({ name: 'app', handler: 'app' })] } };
    const sha = 'c'.repeat(64);

    expect(targetPathsOf(single, 'firmware').image('rel-1', 'rpi4')).toBe('rel-1/rpi4/image');
    expect(targetPathsOf(single, 'firmware').delta('rel-1', 'rpi4', sha)).toBe(`rel-1/rpi4/delta-${sha}`);
    expect(targetPathsOf(single, 'firmware').rollback('ro-1', 'rpi4')).toBe('rollback/ro-1/rpi4/image');
    expect(targetPathsOf(multi, 'firmware').image('rel-1', 'rpi4')).toBe('rel-1/rpi4/firmware/image');
    expect(targetPathsOf(multi, 'app').delta('rel-1', 'rpi4', sha)).toBe(`rel-1/rpi4/app/delta-${sha}`);
    expect(targetPathsOf(multi, 'app').rollback('ro-1', 'rpi4')).toBe('rollback/ro-1/rpi4/app/image');
  });
});
