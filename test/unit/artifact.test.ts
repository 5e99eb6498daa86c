import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type Artifact,
  MAX_ARTIFACT_SIZE,
  MAX_PARTS,
  MiB,
  measure,
  newArtifact,
  partRanges,
  planUpload,
  sealVerdict,
} from '../../functions/domain/artifact';

const THRESHOLD = 64 * MiB;

describe('planUpload', () => {
  it('uploads with one PUT up to and including the threshold', () => {
    expect(planUpload(THRESHOLD, THRESHOLD)).toEqual({ type: 'single' });
  });

  it('uploads in 8 MiB parts just above the threshold', () => {
    expect(planUpload(THRESHOLD + 1, THRESHOLD)).toEqual({
      type: 'multipart',
      partSize: 8 * MiB,
      partCount: 9,
    });
  });

  it('grows the part size in whole MiB so that no upload needs more than 1000 parts', () => {
    const plan = planUpload(MAX_ARTIFACT_SIZE, THRESHOLD);

    expect(plan).toMatchObject({ type: 'multipart', partSize: 21 * MiB });
    expect(plan.type === 'multipart' && plan.partCount).toBeLessThanOrEqual(MAX_PARTS);
  });
});

describe('partRanges', () => {
  it('covers every byte exactly once, the last part taking the remainder', () => {
    const ranges = partRanges(8 * MiB + 5, 8 * MiB);

    expect(ranges).toEqual([
      { partNumber: 1, offset: 0, length: 8 * MiB },
      { partNumber: 2, offset: 8 * MiB, length: 5 },
    ]);
  });
});

const artifact = (declaredSize: number): Artifact =>
  newArtifact(
    'art-00000000-0000-4000-8000-000000000001',
    { kind: 'firmware', hardwareType: 'rpi4', version: '1.2.0', size: declaredSize },
    { type: 'single' },
    new Date('2026-11-01T00:00:00Z'),
  );

describe('sealVerdict', () => {
  it('makes an artifact ready when the measured size is the declared one', () => {
    const digest = { sha256: 'a'.repeat(64), size: 10, s3VersionId: 'v1' };

    expect(sealVerdict(artifact(10), digest)).toEqual({ status: 'ready', digest });
  });

  it('rejects an artifact whose measured size differs, saying both sizes', () => {
    const verdict = sealVerdict(artifact(10), { sha256: 'a'.repeat(64), size: 11, s3VersionId: 'v1' });

    expect(verdict).toEqual({ status: 'rejected', reason: 'size-mismatch: declared 10 bytes, received 11' });
  });
});

describe('measure', () => {
  it('hashes and counts a stream read in chunks as if it were one buffer', async () => {
    const bytes = Buffer.from('edgeops '.repeat(1000));
    async function* chunks() {
      for (let i = 0; i < bytes.length; i += 333) yield bytes.subarray(i, i + 333);
    }

    expect(await measure(chunks())).toEqual({
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
    });
  });
});
