import { describe, expect, it } from 'vitest';
import { InMemoryArtifactStorage } from '../../functions/adapters/in-memory-artifact-storage';
import { InMemoryReleaseStore } from '../../functions/adapters/in-memory-release-store';
import { MiB } from '../../functions/domain/artifact';
import {
  ArtifactNotFoundError,
  ArtifactNotUploadedError,
  ValidationError,
} from '../../functions/domain/errors';
import type { ArtifactSealer } from '../../functions/ports/artifact-sealer';
import { makeCompleteArtifactUpload } from '../../functions/use-cases/complete-artifact-upload';
import { makeCreateArtifact, type UploadInstructions } from '../../functions/use-cases/create-artifact';
import { makeSealArtifact } from '../../functions/use-cases/seal-artifact';
import { sha256 } from '../support/bytes';

const clock = { now: () => new Date('2026-11-01T10:00:00.000Z') };
const THRESHOLD = 8 * MiB;
const spec = (size: number) => ({ kind: 'firmware' as const, hardwareType: 'rpi4', version: '1.2.0', size });
const bytesOf = (size: number, fill = 7) => Buffer.alloc(size, fill);

class RecordingSealer implements ArtifactSealer {
  readonly requests: string[] = [];
  async requestSeal(artifactId: string) {
    this.requests.push(artifactId);
  }
}

function setup() {
  const releases = new InMemoryReleaseStore();
  const storage = new InMemoryArtifactStorage();
  const sealer = new RecordingSealer();
  let n = 0;
  const create = makeCreateArtifact({
    releases,
    storage,
    clock,
    newArtifactId: () => `art-00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`,
    config: { multipartThreshold: THRESHOLD, urlTtlSeconds: 3600 },
  });
  const complete = makeCompleteArtifactUpload({ releases, storage, sealer, clock });
  const seal = makeSealArtifact({ releases, storage, clock });
  return { releases, storage, sealer, create, complete, seal };
}

type Multipart = Extract<UploadInstructions, { type: 'multipart' }>;

/** What an uploader does with multipart instructions: PUT each range, keep each ETag. */
function uploadParts(storage: InMemoryArtifactStorage, uploadId: string, upload: Multipart, bytes: Buffer) {
  return upload.parts.map((part) => ({
    partNumber: part.partNumber,
    etag: storage.uploadPart(
      uploadId,
      part.partNumber,
      bytes.subarray(part.offset, part.offset + part.length),
    ),
  }));
}

describe('createArtifact', () => {
  it('records the artifact awaiting upload and answers with one presigned PUT up to the threshold', async () => {
    const { create, releases } = setup();

    const { artifact, upload } = await create(spec(THRESHOLD));

    expect(upload).toEqual({
      type: 'single',
      method: 'PUT',
      url: `memory://put/artifacts/${artifact.artifactId}?expires=3600`,
      expiresAt: '2026-11-01T11:00:00.000Z',
    });
    expect(await releases.getArtifact(artifact.artifactId)).toMatchObject({
      status: 'awaiting-upload',
      s3Key: `artifacts/${artifact.artifactId}`,
      declaredSize: THRESHOLD,
      upload: { type: 'single' },
    });
  });

  it('starts a multipart upload above the threshold, with one presigned URL per part', async () => {
    const { create, releases } = setup();

    const { artifact, upload } = await create(spec(THRESHOLD + 1));

    expect(upload).toMatchObject({
      type: 'multipart',
      partSize: 8 * MiB,
      parts: [
        { partNumber: 1, offset: 0, length: 8 * MiB, url: expect.stringContaining('partNumber=1') },
        { partNumber: 2, offset: 8 * MiB, length: 1, url: expect.stringContaining('partNumber=2') },
      ],
    });
    expect((await releases.getArtifact(artifact.artifactId))?.upload).toEqual({
      type: 'multipart',
      partSize: 8 * MiB,
      partCount: 2,
      uploadId: expect.any(String),
    });
  });
});

describe('completeArtifactUpload', () => {
  it('refuses an artifact whose bytes were never uploaded, and changes nothing', async () => {
    const { create, complete, sealer, releases } = setup();
    const { artifact } = await create(spec(100));

    await expect(complete({ artifactId: artifact.artifactId })).rejects.toBeInstanceOf(
      ArtifactNotUploadedError,
    );

    expect((await releases.getArtifact(artifact.artifactId))?.status).toBe('awaiting-upload');
    expect(sealer.requests).toEqual([]);
  });

  it('moves an uploaded artifact to sealing and asks for the seal', async () => {
    const { create, complete, sealer, storage } = setup();
    const { artifact } = await create(spec(100));
    storage.put(artifact.s3Key, bytesOf(100));

    const result = await complete({ artifactId: artifact.artifactId });

    expect(result).toMatchObject({ outcome: 'sealing', artifact: { status: 'sealing' } });
    expect(sealer.requests).toEqual([artifact.artifactId]);
  });

  it('refuses parts for an artifact uploaded with one PUT', async () => {
    const { create, complete, storage } = setup();
    const { artifact } = await create(spec(100));
    storage.put(artifact.s3Key, bytesOf(100));

    const completion = complete({ artifactId: artifact.artifactId, parts: [{ partNumber: 1, etag: '"x"' }] });

    await expect(completion).rejects.toMatchObject({ issues: [expect.objectContaining({ field: 'parts' })] });
  });

  it('assembles a multipart upload from all its parts', async () => {
    const { create, complete, storage, seal, releases } = setup();
    const bytes = bytesOf(THRESHOLD + 10, 3);
    const { artifact, upload } = await create(spec(bytes.length));
    if (upload.type !== 'multipart' || artifact.upload.type !== 'multipart')
      throw new Error('expected multipart');
    const parts = uploadParts(storage, artifact.upload.uploadId, upload, bytes);

    await complete({ artifactId: artifact.artifactId, parts });
    await seal(artifact.artifactId);

    expect(await releases.getArtifact(artifact.artifactId)).toMatchObject({
      status: 'ready',
      sha256: sha256(bytes),
      size: bytes.length,
    });
  });

  it.each([
    ['no parts', () => undefined],
    ['a missing part', (parts: { partNumber: number; etag: string }[]) => parts.slice(0, 1)],
    ['parts out of order', (parts: { partNumber: number; etag: string }[]) => [...parts].reverse()],
    [
      'a part with another ETag',
      (parts: { partNumber: number; etag: string }[]) => parts.map((p) => ({ ...p, etag: '"forged"' })),
    ],
  ])('refuses a multipart completion with %s, naming parts, and writes nothing', async (_case, mutate) => {
    const { create, complete, storage, sealer, releases } = setup();
    const bytes = bytesOf(THRESHOLD + 10);
    const { artifact, upload } = await create(spec(bytes.length));
    if (upload.type !== 'multipart' || artifact.upload.type !== 'multipart')
      throw new Error('expected multipart');
    const parts = mutate(uploadParts(storage, artifact.upload.uploadId, upload, bytes));

    const completion = complete({ artifactId: artifact.artifactId, ...(parts ? { parts } : {}) });

    await expect(completion).rejects.toBeInstanceOf(ValidationError);
    await expect(completion).rejects.toMatchObject({ issues: [expect.objectContaining({ field: 'parts' })] });
    expect((await releases.getArtifact(artifact.artifactId))?.status).toBe('awaiting-upload');
    expect(await storage.exists(artifact.s3Key)).toBe(false);
    expect(sealer.requests).toEqual([]);
  });

  it('asks again for the seal of an artifact still sealing', async () => {
    const { create, complete, sealer, storage } = setup();
    const { artifact } = await create(spec(100));
    storage.put(artifact.s3Key, bytesOf(100));
    await complete({ artifactId: artifact.artifactId });

    const again = await complete({ artifactId: artifact.artifactId });

    expect(again.outcome).toBe('sealing');
    expect(sealer.requests).toEqual([artifact.artifactId, artifact.artifactId]);
  });

  it('answers a completion of a ready artifact with it as it is, writing and asking nothing', async () => {
    const { create, complete, seal, sealer, storage, releases } = setup();
    const { artifact } = await create(spec(100));
    storage.put(artifact.s3Key, bytesOf(100));
    await complete({ artifactId: artifact.artifactId });
    await seal(artifact.artifactId);
    const ready = await releases.getArtifact(artifact.artifactId);

    const again = await complete({ artifactId: artifact.artifactId });

    expect(again).toEqual({ outcome: 'sealed', artifact: ready });
    expect(sealer.requests).toHaveLength(1);
  });

  it('fails with ArtifactNotFoundError for an unknown artifact', async () => {
    const { complete } = setup();

    await expect(complete({ artifactId: 'art-00000000-0000-4000-8000-00000000dead' })).rejects.toBeInstanceOf(
      ArtifactNotFoundError,
    );
  });
});

describe('sealArtifact', () => {
  async function uploadedAndCompleted(bytes: Buffer, declaredSize = bytes.length) {
    const s = setup();
    const { artifact } = await s.create(spec(declaredSize));
    const versionId = s.storage.put(artifact.s3Key, bytes);
    await s.complete({ artifactId: artifact.artifactId });
    return { ...s, artifactId: artifact.artifactId, s3Key: artifact.s3Key, versionId };
  }

  it('marks the artifact ready with the SHA-256, size and S3 version it measured', async () => {
    const bytes = bytesOf(300_000, 9);
    const { seal, releases, artifactId, versionId } = await uploadedAndCompleted(bytes);

    expect(await seal(artifactId)).toBe('ready');

    expect(await releases.getArtifact(artifactId)).toMatchObject({
      status: 'ready',
      sha256: sha256(bytes),
      size: 300_000,
      s3VersionId: versionId,
      sealedAt: '2026-11-01T10:00:00.000Z',
    });
  });

  it('rejects an artifact whose bytes are not the declared size', async () => {
    const { seal, releases, artifactId } = await uploadedAndCompleted(bytesOf(99), 100);

    expect(await seal(artifactId)).toBe('rejected');

    expect(await releases.getArtifact(artifactId)).toMatchObject({
      status: 'rejected',
      rejectionReason: 'size-mismatch: declared 100 bytes, received 99',
    });
  });

  it('never overwrites a sealed artifact, even after different bytes are uploaded to its key', async () => {
    const original = bytesOf(100, 1);
    const { seal, releases, storage, artifactId, s3Key } = await uploadedAndCompleted(original);
    await seal(artifactId);
    storage.put(s3Key, bytesOf(100, 2));

    expect(await seal(artifactId)).toBe('ignored');

    expect((await releases.getArtifact(artifactId))?.sha256).toBe(sha256(original));
  });

  it('leaves an artifact alone that is still awaiting its upload', async () => {
    const { create, seal, releases } = setup();
    const { artifact } = await create(spec(100));

    expect(await seal(artifact.artifactId)).toBe('ignored');
    expect((await releases.getArtifact(artifact.artifactId))?.status).toBe('awaiting-upload');
  });
});
