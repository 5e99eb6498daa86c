import { describe, expect, it } from 'vitest';
import { type Artifact, newArtifact } from '../../functions/domain/artifact';
import { ValidationError } from '../../functions/domain/errors';
import { composeRelease } from '../../functions/domain/release';

const now = new Date('2026-11-02T00:00:00Z');
let counter = 0;

function artifact(hardwareType: string, status: Artifact['status'] = 'ready'): Artifact {
  const id = `art-00000000-0000-4000-8000-${String(++counter).padStart(12, '0')}`;
  const base = newArtifact(
    id,
    { kind: 'firmware', hardwareType, version: '2.0.0', size: 42 },
    { type: 'single' },
    now,
  );
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

describe('composeRelease', () => {
  it('pins each ready artifact under its hardware type with its measured size, hash and version', () => {
    const rpi = artifact('rpi4');
    const jetson = artifact('jetson');

    const release = composeRelease(
      { version: '2.0.0', artifactIds: [rpi.artifactId, jetson.artifactId], notes: 'spring' },
      [rpi, jetson],
      now,
    );

    expect(release).toEqual({
      releaseId: 'rel-2.0.0',
      version: '2.0.0',
      notes: 'spring',
      createdAt: '2026-11-02T00:00:00.000Z',
      artifacts: {
        rpi4: {
          artifactId: rpi.artifactId,
          kind: 'firmware',
          version: '2.0.0',
          s3Key: `artifacts/${rpi.artifactId}`,
          s3VersionId: `v-${rpi.artifactId}`,
          sha256: 'b'.repeat(64),
          size: 42,
        },
        jetson: expect.objectContaining({ artifactId: jetson.artifactId }),
      },
    });
  });

  it('names every artifact that is missing or not ready', () => {
    const ready = artifact('rpi4');
    const sealing = artifact('jetson', 'sealing');
    const missing = 'art-00000000-0000-4000-8000-999999999999';

    const issues = issuesOf(() =>
      composeRelease(
        { version: '2.0.0', artifactIds: [ready.artifactId, sealing.artifactId, missing] },
        [ready, sealing, undefined],
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
        [first, second],
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
      composeRelease(
        { version: '2.0.0', artifactIds: [only.artifactId, only.artifactId] },
        [only, only],
        now,
      ),
    );

    expect(issues).toEqual([{ field: 'artifacts.1', message: expect.stringContaining('already listed') }]);
  });
});
