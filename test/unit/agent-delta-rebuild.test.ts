import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDelta } from '../../contract/zstd-delta';
import { rebuildFromDelta } from '../../device/ota/delta-rebuild';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { noise, sha256 } from '../support/bytes';

const facts = (bytes: Uint8Array) => ({ sha256: sha256(bytes), size: bytes.length });

const BASE = noise(200_000, 1);
/** The base with a changed middle and 30 kB of new bytes: a patch of a little over 30 kB. */
const IMAGE = Buffer.concat([BASE.subarray(0, 80_000), noise(30_000, 2), BASE.subarray(90_000)]);
const OTHER_IMAGE = Buffer.concat([BASE.subarray(0, 50_000), noise(30_000, 3), BASE.subarray(60_000)]);
let PATCH: Buffer;
let OTHER_PATCH: Buffer;

let server: LocalArtifactServer;
let dir: string;
let basePath: string;

beforeEach(async () => {
  PATCH ??= await createDelta(BASE, IMAGE, { level: 3 });
  OTHER_PATCH ??= await createDelta(BASE, OTHER_IMAGE, { level: 3 });
  server = await startLocalArtifactServer({ 'image.delta': PATCH, 'other.delta': OTHER_PATCH });
  dir = await mkdtemp(join(tmpdir(), 'edgeops-delta-'));
  basePath = join(dir, 'slots', 'a.img');
  await mkdir(join(dir, 'slots'));
  await writeFile(basePath, BASE);
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (overrides: Partial<Parameters<typeof rebuildFromDelta>[0]> = {}) => ({
  patch: { url: server.url('image.delta'), ...facts(PATCH) },
  baseImagePath: basePath,
  base: facts(BASE),
  image: facts(IMAGE),
  partialPath: join(dir, 'downloads', 'patch.part'),
  outputPath: join(dir, 'downloads', 'image.bin'),
  retryDelayMs: 1,
  ...overrides,
});

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Nothing but the partial patch (if asked to keep it) may be left in the downloads dir. */
const downloadsLeft = async () => (await readdir(join(dir, 'downloads')).catch(() => [])).sort();

describe('rebuildFromDelta', () => {
  it('rebuilds the image from the active slot and the patch, downloading only the patch', async () => {
    expect(PATCH.length).toBeLessThan(IMAGE.length / 4);

    const result = await rebuildFromDelta(request());

    expect(result).toEqual({
      ok: true,
      path: join(dir, 'downloads', 'image.bin'),
      bytesDownloaded: PATCH.length,
    });
    expect(sha256(await readFile(join(dir, 'downloads', 'image.bin')))).toBe(sha256(IMAGE));
    expect(server.requests).toEqual([{ path: 'image.delta', range: undefined, status: 200 }]);
    expect(await downloadsLeft()).toEqual(['image.bin']);
  });

  it('refuses a base image that is not the one the delta was made from, before fetching anything', async () => {
    await writeFile(basePath, OTHER_IMAGE.subarray(0, BASE.length));

    const result = await rebuildFromDelta(request());

    expect(result).toEqual({ ok: false, reason: 'delta-base-mismatch', bytesDownloaded: 0 });
    expect(server.requests).toEqual([]);
    expect(await downloadsLeft()).toEqual([]);
  });

  it('refuses a base image of the wrong size, or none at all', async () => {
    await writeFile(basePath, BASE.subarray(1));
    expect(await rebuildFromDelta(request())).toMatchObject({ ok: false, reason: 'delta-base-mismatch' });

    await rm(basePath);
    expect(await rebuildFromDelta(request())).toMatchObject({ ok: false, reason: 'delta-base-mismatch' });
    expect(server.requests).toEqual([]);
  });

  it('refuses a tampered patch by its signed SHA-256 and leaves no output', async () => {
    const tampered = Buffer.from(PATCH);
    tampered[1000] = (tampered[1000] ?? 0) ^ 0xff;
    server.put('image.delta', tampered);

    const result = await rebuildFromDelta(request());

    expect(result).toEqual({
      ok: false,
      reason: 'delta-patch-sha256-mismatch',
      bytesDownloaded: PATCH.length,
    });
    expect(await downloadsLeft()).toEqual([]);
  });

  it('refuses a patch (matching its own signed hash) that rebuilds another image', async () => {
    const result = await rebuildFromDelta(
      request({ patch: { url: server.url('other.delta'), ...facts(OTHER_PATCH) } }),
    );

    expect(result).toEqual({
      ok: false,
      reason: 'delta-image-mismatch',
      bytesDownloaded: OTHER_PATCH.length,
    });
    expect(await exists(join(dir, 'downloads', 'image.bin'))).toBe(false);
    expect(await downloadsLeft()).toEqual([]);
  });

  it('stops the moment the output grows past the image size', async () => {
    const result = await rebuildFromDelta(request({ image: { sha256: sha256(IMAGE), size: 100_000 } }));

    expect(result).toMatchObject({ ok: false, reason: 'delta-output-too-long' });
    expect(await downloadsLeft()).toEqual([]);
  });

  it('reports a patch the codec cannot apply as delta-apply-failed', async () => {
    const garbage = noise(5_000, 9);
    server.put('garbage.delta', garbage);

    const result = await rebuildFromDelta(
      request({ patch: { url: server.url('garbage.delta'), ...facts(garbage) } }),
    );

    expect(result.ok).toBe(false);
    expect(!result.ok && result.reason).toMatch(/^delta-apply-failed: /);
    expect(await downloadsLeft()).toEqual([]);
  });

  it('refuses a patch that asks for a larger zstd window than allowed', async () => {
    const result = await rebuildFromDelta(request({ maxWindowLog: 10 }));

    expect(result).toMatchObject({ ok: false, reason: expect.stringMatching(/^delta-apply-failed: /) });
  });

  it('resumes an interrupted patch download where it stopped, fetching each byte once', async () => {
    server.cutNextResponses(2, 10_000);

    const result = await rebuildFromDelta(request());

    expect(result).toMatchObject({ ok: true, bytesDownloaded: PATCH.length });
    expect(server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=10000-', 'bytes=20000-']);
    expect(sha256(await readFile(join(dir, 'downloads', 'image.bin')))).toBe(sha256(IMAGE));
  });

  it('resumes from the partial patch an earlier run left, and counts only the new bytes', async () => {
    await mkdir(join(dir, 'downloads'));
    await writeFile(join(dir, 'downloads', 'patch.part'), PATCH.subarray(0, 12_345));

    const result = await rebuildFromDelta(request());

    expect(result).toMatchObject({ ok: true, bytesDownloaded: PATCH.length - 12_345 });
    expect(server.requests).toEqual([{ path: 'image.delta', range: 'bytes=12345-', status: 206 }]);
  });

  it('keeps the partial patch when the download gives up, and the next attempt resumes from it', async () => {
    server.cutNextResponses(1, 10_000);
    server.cutNextResponses(2, 0);

    const first = await rebuildFromDelta(request({ maxStalledAttempts: 2 }));
    expect(first).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^delta-patch-download-failed: /),
      bytesDownloaded: 10_000,
    });
    expect(await downloadsLeft()).toEqual(['patch.part']);

    const second = await rebuildFromDelta(request());
    expect(second).toMatchObject({ ok: true, bytesDownloaded: PATCH.length - 10_000 });
    expect(server.requests.at(-1)?.range).toBe('bytes=10000-');
  });
});
