import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ArtifactView, CreatedArtifact, ReleaseView } from '../../operator-client/operator-api-client';
import { sha256 } from '../support/bytes';
import { api, eventually, uniqueId } from './support';

const MiB = 1024 * 1024;
/** The local stage's multipart threshold (lib/edgeops-stack.ts). */
const LOCAL_MULTIPART_THRESHOLD = 8 * MiB;
/**
 * Local AWS serves plain HTTP and takes a request as TLS only when it says so; the artifact
 * bucket denies every other request (README, "What local AWS cannot show"). Uploaders to AWS
 * use the https:// URLs as they are.
 */
const OVER_TLS = { headers: { 'x-forwarded-proto': 'https' } };
const version = () => `0.${Date.now() % 100_000}.0-${randomBytes(3).toString('hex')}`;
const spec = (size: number, hardwareType = 'rpi4') => ({
  kind: 'firmware' as const,
  hardwareType,
  version: '1.0.0',
  size,
  name: 'image.bin',
});

/** Polls the artifact until the seal has run (status ready or rejected). */
const untilSealed = (artifactId: string) =>
  eventually(async () => {
    const artifact = await api('viewer').getArtifact(artifactId);
    return artifact.status === 'ready' || artifact.status === 'rejected' ? artifact : undefined;
  }, 60_000);

/** Creates an artifact, uploads `bytes` as told, completes it and waits for the seal. */
async function sealedArtifact(bytes: Uint8Array, hardwareType = 'rpi4', declaredSize = bytes.length) {
  const created = await api().createArtifact(spec(declaredSize, hardwareType));
  const parts = await api().uploadArtifactBytes(created.upload, bytes, OVER_TLS);
  await api().completeArtifactUpload(created.artifact.artifactId, parts);
  return untilSealed(created.artifact.artifactId);
}

describe('artifact upload through presigned URLs', () => {
  it('uploads with one PUT and seals the SHA-256 and size the backend measured', async () => {
    const bytes = randomBytes(MiB + 17);
    const { artifact, upload } = await api('operator').createArtifact(spec(bytes.length));
    expect(artifact).toMatchObject({ status: 'awaiting-upload', declaredSize: bytes.length, sha256: null });
    expect(upload).toMatchObject({ type: 'single', method: 'PUT' });
    if (upload.type !== 'single') throw new Error('expected a single PUT');
    expect(Date.parse(upload.expiresAt) - Date.now()).toBeGreaterThan(55 * 60_000);

    expect((await fetch(upload.url, { method: 'PUT', body: bytes, ...OVER_TLS })).status).toBe(200);
    const completion = await api().request<ArtifactView>('POST', `artifacts/${artifact.artifactId}/complete`);

    expect(completion.status).toBe(202);
    expect(completion.body.status).toBe('sealing');
    expect(await untilSealed(artifact.artifactId)).toMatchObject({
      status: 'ready',
      sha256: sha256(bytes),
      size: bytes.length,
      kind: 'firmware',
      hardwareType: 'rpi4',
      version: '1.0.0',
    });
  });

  it('uploads a file just over the threshold in parts and seals the whole of it', async () => {
    const bytes = randomBytes(LOCAL_MULTIPART_THRESHOLD + 1024);
    const { artifact, upload } = await api().createArtifact(spec(bytes.length));
    if (upload.type !== 'multipart') throw new Error(`expected a multipart upload, got ${upload.type}`);
    expect(upload.parts.map(({ partNumber, length }) => ({ partNumber, length }))).toEqual([
      { partNumber: 1, length: 8 * MiB },
      { partNumber: 2, length: 1024 },
    ]);

    const parts = await api().uploadArtifactBytes(upload, bytes, OVER_TLS);
    const completion = await api().request('POST', `artifacts/${artifact.artifactId}/complete`, { parts });

    expect(completion.status).toBe(202);
    expect(await untilSealed(artifact.artifactId)).toMatchObject({
      status: 'ready',
      sha256: sha256(bytes),
      size: bytes.length,
    });
  });

  it('answers a repeated completion of a ready artifact with 200 and changes nothing', async () => {
    const bytes = randomBytes(4096);
    const ready = await sealedArtifact(bytes);

    const again = await api().request<ArtifactView>('POST', `artifacts/${ready.artifactId}/complete`);

    expect(again.status).toBe(200);
    expect(again.body).toEqual(ready);
    expect(await api().getArtifact(ready.artifactId)).toEqual(ready);
  });

  it('keeps what it sealed when other bytes are PUT to the same URL afterwards', async () => {
    const original = randomBytes(2048);
    const created: CreatedArtifact = await api().createArtifact(spec(original.length));
    await api().uploadArtifactBytes(created.upload, original, OVER_TLS);
    await api().completeArtifactUpload(created.artifact.artifactId);
    const ready = await untilSealed(created.artifact.artifactId);

    await api().uploadArtifactBytes(created.upload, randomBytes(2048), OVER_TLS);
    await api().completeArtifactUpload(created.artifact.artifactId);

    expect(await api().getArtifact(created.artifact.artifactId)).toEqual(ready);
    expect(ready.sha256).toBe(sha256(original));
  });

  it('rejects an artifact whose bytes are not the size declared', async () => {
    const rejected = await sealedArtifact(randomBytes(999), 'rpi4', 1000);

    expect(rejected).toMatchObject({
      status: 'rejected',
      sha256: null,
      rejectionReason: 'size-mismatch: declared 1000 bytes, received 999',
    });
  });

  it('answers 409 to a completion before the upload, and the artifact still awaits it', async () => {
    const { artifact } = await api().createArtifact(spec(100));

    const { status } = await api().request('POST', `artifacts/${artifact.artifactId}/complete`);

    expect(status).toBe(409);
    expect((await api('viewer').getArtifact(artifact.artifactId)).status).toBe('awaiting-upload');
  });

  it('answers 400 naming parts to a multipart completion that lacks a part, and writes nothing', async () => {
    const bytes = randomBytes(LOCAL_MULTIPART_THRESHOLD + 1);
    const { artifact, upload } = await api().createArtifact(spec(bytes.length));
    const parts = (await api().uploadArtifactBytes(upload, bytes, OVER_TLS)) ?? [];

    const { status, body } = await api().request<{ errors: { field: string }[] }>(
      'POST',
      `artifacts/${artifact.artifactId}/complete`,
      { parts: parts.slice(0, 1) },
    );

    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain('parts');
    expect((await api().getArtifact(artifact.artifactId)).status).toBe('awaiting-upload');
  });

  it('refuses a presigned URL used for another key', async () => {
    const { upload } = await api().createArtifact(spec(10));
    if (upload.type !== 'single') throw new Error('expected a single PUT');
    const elsewhere = new URL(upload.url);
    elsewhere.pathname = elsewhere.pathname.replace(/art-[0-9a-f-]+$/, `art-${crypto.randomUUID()}`);

    const response = await fetch(elsewhere, { method: 'PUT', body: randomBytes(10), ...OVER_TLS });

    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/SignatureDoesNotMatch/);
  });

  it('refuses a presigned upload that does not use TLS', async () => {
    const { upload } = await api().createArtifact(spec(10));
    if (upload.type !== 'single') throw new Error('expected a single PUT');

    const response = await fetch(upload.url, { method: 'PUT', body: randomBytes(10) });

    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/explicit deny/);
  });

  it.each([
    ['a missing size', { size: undefined }, 'size'],
    ['a size that is not whole bytes', { size: 10.5 }, 'size'],
    ['an unknown kind', { kind: 'driver' }, 'kind'],
    ['a version with spaces', { version: '1.0 final' }, 'version'],
    ['an unknown field', { sha256: 'f'.repeat(64) }, '(root)'],
  ])('answers 400 naming the field for an artifact with %s', async (_case, change, field) => {
    const { status, body } = await api().request<{ errors: { field: string }[] }>('POST', 'artifacts', {
      ...spec(100),
      ...change,
    });

    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain(field);
  });

  it('answers 404 for an unknown artifact', async () => {
    const { status } = await api('viewer').request('GET', `artifacts/art-${crypto.randomUUID()}`);

    expect(status).toBe(404);
  });
});

describe('releases', () => {
  it('makes a release from ready artifacts, one per hardware type, with what was measured', async () => {
    const rpiBytes = randomBytes(3000);
    const jetsonBytes = randomBytes(5000);
    const [rpi, jetson] = await Promise.all([
      sealedArtifact(rpiBytes, 'rpi4'),
      sealedArtifact(jetsonBytes, 'jetson-nano'),
    ]);
    const v = version();

    const { status, body } = await api('operator').request<ReleaseView>('POST', 'releases', {
      version: v,
      artifacts: [rpi.artifactId, jetson.artifactId],
      notes: 'first',
    });

    expect(status).toBe(201);
    expect(body).toMatchObject({
      releaseId: `rel-${v}`,
      version: v,
      notes: 'first',
      artifacts: {
        rpi4: { artifactId: rpi.artifactId, sha256: sha256(rpiBytes), size: 3000 },
        'jetson-nano': { artifactId: jetson.artifactId, sha256: sha256(jetsonBytes), size: 5000 },
      },
    });
    expect(await api('viewer').getRelease(`rel-${v}`)).toEqual(body);
  });

  it('answers 409 to the same version again and keeps the first release unchanged', async () => {
    const [first, other] = await Promise.all([
      sealedArtifact(randomBytes(100)),
      sealedArtifact(randomBytes(200), 'jetson-nano'),
    ]);
    const v = version();
    const original = await api().createRelease({ version: v, artifacts: [first.artifactId] });

    const { status } = await api().request('POST', 'releases', {
      version: v,
      artifacts: [other.artifactId],
      notes: 'second try',
    });

    expect(status).toBe(409);
    expect(await api().getRelease(original.releaseId)).toEqual(original);
  });

  it('answers 400 naming the artifact that is not ready, and writes nothing', async () => {
    const ready = await sealedArtifact(randomBytes(100));
    const { artifact: waiting } = await api().createArtifact(spec(100, 'jetson-nano'));
    const v = version();

    const { status, body } = await api().request<{ errors: { field: string; message: string }[] }>(
      'POST',
      'releases',
      { version: v, artifacts: [ready.artifactId, waiting.artifactId] },
    );

    expect(status).toBe(400);
    expect(body.errors).toEqual([
      { field: 'artifacts.1', message: `${waiting.artifactId} is awaiting-upload, not ready` },
    ]);
    expect((await api().request('GET', `releases/rel-${v}`)).status).toBe(404);
  });

  it('answers 400 to two artifacts for one hardware type', async () => {
    const [a, b] = await Promise.all([sealedArtifact(randomBytes(10)), sealedArtifact(randomBytes(20))]);

    const { status, body } = await api().request<{ errors: { field: string }[] }>('POST', 'releases', {
      version: version(),
      artifacts: [a.artifactId, b.artifactId],
    });

    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toEqual(['artifacts.1']);
  });

  it.each([
    ['a version with spaces', { version: 'one two' }, 'version'],
    ['no artifacts', { artifacts: [] }, 'artifacts'],
    ['an artifact id that is not one', { artifacts: ['dev-1'] }, 'artifacts.0'],
    ['an unknown field', { channel: 'beta' }, '(root)'],
  ])(
    'answers 400 naming the field for a release with %s, and writes nothing',
    async (_case, change, field) => {
      const v = version();

      const { status, body } = await api().request<{ errors: { field: string }[] }>('POST', 'releases', {
        version: v,
        artifacts: [`art-${crypto.randomUUID()}`],
        ...change,
      });

      expect(status).toBe(400);
      expect(body.errors.map((e) => e.field)).toContain(field);
      expect((await api().request('GET', `releases/rel-${v}`)).status).toBe(404);
    },
  );

  it('lists releases page by page, newest first', async () => {
    const artifact = await sealedArtifact(randomBytes(10));
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      made.push(
        (await api().createRelease({ version: version(), artifacts: [artifact.artifactId] })).releaseId,
      );
    }

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api('viewer').listReleases({ limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((r) => r.releaseId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);

    expect(seen.filter((id) => made.includes(id))).toEqual([...made].reverse());
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('answers 400 to a listing cursor it did not issue', async () => {
    const { status, body } = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      'releases?cursor=bm90LWEtY3Vyc29y',
    );

    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain('cursor');
  });

  it('answers 404 for an unknown release', async () => {
    const { status } = await api('viewer').request('GET', `releases/rel-${uniqueId('none')}`);

    expect(status).toBe(404);
  });
});

describe('release catalog authorization', () => {
  it('answers 403 to a viewer creating an artifact', async () => {
    const { status, body } = await api('viewer').request<{ message: string }>('POST', 'artifacts', spec(100));

    expect(status).toBe(403);
    expect(body.message).toMatch(/operator/);
  });

  it('answers 403 to a viewer completing an upload, and the artifact still awaits it', async () => {
    const { artifact, upload } = await api().createArtifact(spec(10));
    await api().uploadArtifactBytes(upload, randomBytes(10), OVER_TLS);

    const { status } = await api('viewer').request('POST', `artifacts/${artifact.artifactId}/complete`);

    expect(status).toBe(403);
    expect((await api().getArtifact(artifact.artifactId)).status).toBe('awaiting-upload');
  });

  it('answers 403 to a viewer creating a release, and writes nothing', async () => {
    const ready = await sealedArtifact(randomBytes(10));
    const v = version();

    const { status } = await api('viewer').request('POST', 'releases', {
      version: v,
      artifacts: [ready.artifactId],
    });

    expect(status).toBe(403);
    expect((await api().request('GET', `releases/rel-${v}`)).status).toBe(404);
  });

  it('answers 401 without a token', async () => {
    expect((await api('anonymous').request('GET', 'releases')).status).toBe(401);
  });
});
