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
