import { describe, expect, it } from 'vitest';
import {
  ArtifactNotFoundError,
  ArtifactNotUploadedError,
  ReleaseAlreadyExistsError,
  ReleaseNotFoundError,
} from '../../functions/domain/errors';
import { errorResponse } from '../../functions/operator-api/http';
import {
  CompleteArtifactRequest,
  CreateArtifactRequest,
  CreateReleaseRequest,
  ReleasePath,
  releaseRequestOf,
} from '../../functions/operator-api/release-schemas';
import { parseInput, parseJsonBody } from '../../functions/shared/parse';

const fieldsOf = (call: () => unknown): string[] => {
  try {
    call();
  } catch (error) {
    return (error as { issues: { field: string }[] }).issues.map((issue) => issue.field);
  }
  throw new Error('expected a ValidationError');
};

const artifactRequest = { kind: 'firmware', hardwareType: 'rpi4', version: '1.2.0', size: 1024 };
const ARTIFACT_ID = 'art-0b6f9a4e-3c1d-4e8a-9f2b-5d7c8e9a0b1c';

describe('CreateArtifactRequest', () => {
  it.each([
    ['an unknown kind', { kind: 'driver' }, 'kind'],
    ['a size that is not whole bytes', { size: 1.5 }, 'size'],
    ['an empty file', { size: 0 }, 'size'],
    ['a size above 20 GiB', { size: 21 * 1024 ** 3 }, 'size'],
    ['a size given as text', { size: '1024' }, 'size'],
    ['a version with spaces', { version: '1.2 beta' }, 'version'],
    ['a hardware type with spaces', { hardwareType: 'rpi 4' }, 'hardwareType'],
    ['an unknown field', { sha256: 'a'.repeat(64) }, '(root)'],
  ])('names the field for %s', (_case, change, field) => {
    expect(
      fieldsOf(() => parseJsonBody(CreateArtifactRequest, JSON.stringify({ ...artifactRequest, ...change }))),
    ).toContain(field);
  });

  it('names every missing field', () => {
    expect(fieldsOf(() => parseJsonBody(CreateArtifactRequest, '{}'))).toEqual(
      expect.arrayContaining(['kind', 'hardwareType', 'version', 'size']),
    );
  });
});

describe('CompleteArtifactRequest', () => {
  it('accepts an empty body for a single PUT', () => {
    expect(parseJsonBody(CompleteArtifactRequest, null)).toBeUndefined();
  });

  it('names the part that lacks its ETag', () => {
    const body = JSON.stringify({ parts: [{ partNumber: 1, etag: '"a"' }, { partNumber: 2 }] });

    expect(fieldsOf(() => parseJsonBody(CompleteArtifactRequest, body))).toEqual(['parts.1.etag']);
  });
});

describe('CreateReleaseRequest', () => {
  it.each([
    ['a version too long for a release id', { version: '1'.repeat(61) }, 'version'],
    ['no artifacts', { artifacts: [] }, 'artifacts'],
    ['an artifact id of another kind', { artifacts: [ARTIFACT_ID, 'dev-1'] }, 'artifacts.1'],
    ['more artifacts than a job document carries', { artifacts: Array(17).fill(ARTIFACT_ID) }, 'artifacts'],
  ])('names the field for %s', (_case, change, field) => {
    const body = JSON.stringify({ version: '1.0.0', artifacts: [ARTIFACT_ID], ...change });

    expect(fieldsOf(() => parseJsonBody(CreateReleaseRequest, body))).toContain(field);
  });
});

describe('CreateReleaseRequest with components', () => {
  const component = (patch: Record<string, unknown> = {}) => ({
    name: 'app',
    handler: 'docker-compose',
    artifacts: [ARTIFACT_ID],
    ...patch,
  });
  const body = (patch: Record<string, unknown>) =>
    JSON.stringify({ version: '2.0.0', components: [component()], ...patch });

  it('reads components in install order, with settings and download limits', () => {
    const parsed = parseJsonBody(
      CreateReleaseRequest,
      body({
        components: [
          component({ name: 'rootfs', handler: 'rootfs' }),
          component({ settings: { 'compose-file': '/opt/app/compose.yaml' } }),
        ],
        downloadLimits: { rpi4: { minBytesPerSecond: 4096 } },
      }),
    );

    expect(releaseRequestOf(parsed)).toEqual({
      version: '2.0.0',
      components: [
        { name: 'rootfs', handler: 'rootfs', artifactIds: [ARTIFACT_ID] },
        {
          name: 'app',
          handler: 'docker-compose',
          settings: { 'compose-file': '/opt/app/compose.yaml' },
          artifactIds: [ARTIFACT_ID],
        },
      ],
      downloadLimits: { rpi4: { minBytesPerSecond: 4096 } },
    });
  });

  it('reads the body of artifacts alone as before', () => {
    const parsed = parseJsonBody(
      CreateReleaseRequest,
      JSON.stringify({ version: '1.0.0', artifacts: [ARTIFACT_ID] }),
    );

    expect(releaseRequestOf(parsed)).toEqual({ version: '1.0.0', artifactIds: [ARTIFACT_ID] });
  });

  it.each([
    ['neither artifacts nor components', { components: undefined }, 'artifacts'],
    ['both artifacts and components', { artifacts: [ARTIFACT_ID] }, 'components'],
    [
      'download limits without components',
      { components: undefined, artifacts: [ARTIFACT_ID], downloadLimits: { rpi4: { maxSeconds: 60 } } },
      'downloadLimits',
    ],
    ['no components', { components: [] }, 'components'],
    [
      'more than 8 components',
      { components: Array.from({ length: 9 }, (_, i) => component({ name: `c${i}` })) },
      'components',
    ],
    ['a component name in capitals', { components: [component({ name: 'App' })] }, 'components.0.name'],
    ['a component name with a slash', { components: [component({ name: 'app/x' })] }, 'components.0.name'],
    ['no handler', { components: [component({ handler: undefined })] }, 'components.0.handler'],
    ['a handler path', { components: [component({ handler: '../bin/sh' })] }, 'components.0.handler'],
    [
      'a component without artifacts',
      { components: [component({ artifacts: [] })] },
      'components.0.artifacts',
    ],
    [
      'more than 16 artifacts in a component',
      { components: [component({ artifacts: Array(17).fill(ARTIFACT_ID) })] },
      'components.0.artifacts',
    ],
    [
      'an artifact id of another kind',
      { components: [component({ artifacts: [ARTIFACT_ID, 'dev-1'] })] },
      'components.0.artifacts.1',
    ],
    [
      'a setting name in capitals',
      { components: [component({ settings: { Path: '/opt' } })] },
      'components.0.settings.Path',
    ],
    [
      'a setting that is not text',
      { components: [component({ settings: { port: 8080 } })] },
      'components.0.settings.port',
    ],
    [
      'a setting over 512 characters',
      { components: [component({ settings: { path: 'x'.repeat(513) } })] },
      'components.0.settings.path',
    ],
    [
      'more than 16 settings',
      {
        components: [
          component({ settings: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`s${i}`, 'x'])) }),
        ],
      },
      'components.0.settings',
    ],
    ['an unknown component field', { components: [component({ kind: 'app' })] }, 'components.0'],
    [
      'download limits for a hardware type with spaces',
      { downloadLimits: { 'rpi 4': { maxSeconds: 60 } } },
      'downloadLimits.rpi 4',
    ],
    ['empty download limits', { downloadLimits: { rpi4: {} } }, 'downloadLimits.rpi4'],
    [
      'a zero rate',
      { downloadLimits: { rpi4: { minBytesPerSecond: 0 } } },
      'downloadLimits.rpi4.minBytesPerSecond',
    ],
    [
      'a limit over 30 days',
      { downloadLimits: { rpi4: { maxSeconds: 31 * 86_400 } } },
      'downloadLimits.rpi4.maxSeconds',
    ],
    ['an unknown limit', { downloadLimits: { rpi4: { maxBytes: 10 } } }, 'downloadLimits.rpi4'],
  ])('names the field for %s', (_case, change, field) => {
    expect(fieldsOf(() => parseJsonBody(CreateReleaseRequest, body(change)))).toContain(field);
  });
});

describe('ReleasePath', () => {
  it('reads a release id whose + came percent-encoded', () => {
    expect(parseInput(ReleasePath, { releaseId: 'rel-1.0.0%2Bbuild.7' }, 'path').releaseId).toBe(
      'rel-1.0.0+build.7',
    );
  });
});

describe('errorResponse for artifacts and releases', () => {
  it.each([
    [new ArtifactNotFoundError(ARTIFACT_ID), 404],
    [new ArtifactNotUploadedError(ARTIFACT_ID), 409],
    [new ReleaseNotFoundError('rel-1'), 404],
    [new ReleaseAlreadyExistsError('rel-1'), 409],
  ])('maps %s', (error, status) => {
    expect(errorResponse(error).statusCode).toBe(status);
  });
});
