import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { downloadArtifact } from '../../device/ota/artifact-download';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { sha256 } from '../support/bytes';

const BODY = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251));

let server: LocalArtifactServer;
let dir: string;
let partialPath: string;

beforeEach(async () => {
  server = await startLocalArtifactServer({ 'image.bin': BODY });
  dir = await mkdtemp(join(tmpdir(), 'edgeops-download-'));
  partialPath = join(dir, 'downloads', 'image.part');
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (overrides: Partial<Parameters<typeof downloadArtifact>[0]> = {}) => ({
  url: server.url('image.bin'),
  size: BODY.length,
  sha256: sha256(BODY),
  partialPath,
  retryDelayMs: 1,
  ...overrides,
});

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

describe('downloadArtifact', () => {
  it('downloads the whole artifact with one plain GET when nothing is on disk', async () => {
    const result = await downloadArtifact(request());

    expect(result).toMatchObject({ ok: true, resumedFrom: 0, requests: 1 });
    expect(server.requests).toEqual([{ path: 'image.bin', range: undefined, status: 200 }]);
    expect(sha256(await readFile(partialPath))).toBe(sha256(BODY));
  });

  it('continues from the partial file an earlier run left, asking only for the rest', async () => {
    await mkdir(join(dir, 'downloads'));
    await writeFile(partialPath, BODY.subarray(0, 12_345));

    const result = await downloadArtifact(request());

    expect(result).toMatchObject({ ok: true, resumedFrom: 12_345 });
    expect(server.requests).toEqual([{ path: 'image.bin', range: 'bytes=12345-', status: 206 }]);
    expect(sha256(await readFile(partialPath))).toBe(sha256(BODY));
  });

  it('keeps going after connections cut mid-body, each retry resuming where the last stopped', async () => {
    server.cutNextResponses(3, 10_000);

    const result = await downloadArtifact(request());

    expect(result.ok).toBe(true);
    expect(server.requests.map((r) => r.range)).toEqual([
      undefined,
      'bytes=10000-',
      'bytes=20000-',
      'bytes=30000-',
    ]);
    expect(sha256(await readFile(partialPath))).toBe(sha256(BODY));
  });

  it('deletes the partial file and says sha256-mismatch when the bytes are not the signed ones', async () => {
    const result = await downloadArtifact(request({ sha256: sha256(Buffer.from('other')) }));

    expect(result).toEqual({ ok: false, reason: 'sha256-mismatch' });
    expect(await exists(partialPath)).toBe(false);
  });

  it('refuses a body longer than the signed size, deleting what it has', async () => {
    const result = await downloadArtifact(request({ size: BODY.length - 1 }));

    expect(result).toEqual({ ok: false, reason: 'size-mismatch' });
    expect(await exists(partialPath)).toBe(false);
  });

  it('stops reading a body that goes on past the signed size, even when no length was announced', async () => {
    // Streams without Content-Length and never ends: only the device's own limit stops it.
    const endless = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const timer = setInterval(() => res.write(BODY.subarray(0, 4_096)), 1);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const { port } = endless.address() as AddressInfo;

    try {
      const result = await downloadArtifact(
        request({ url: `http://127.0.0.1:${port}/image.bin`, size: 20_000 }),
      );

      expect(result).toEqual({ ok: false, reason: 'size-mismatch' });
      expect(await exists(partialPath)).toBe(false);
    } finally {
      endless.closeAllConnections();
      endless.close();
    }
  });

  it('says size-mismatch when the server holds a shorter object than the signed one', async () => {
    server.put('image.bin', BODY.subarray(0, 1_000));

    const result = await downloadArtifact(request());

    expect(result).toEqual({ ok: false, reason: 'size-mismatch' });
    expect(server.requests).toHaveLength(1);
  });

  it('says size-mismatch when resuming finds the object shorter than what it already has', async () => {
    await mkdir(join(dir, 'downloads'));
    await writeFile(partialPath, BODY.subarray(0, 5_000));
    server.put('image.bin', BODY.subarray(0, 1_000));

    const result = await downloadArtifact(request());

    expect(result).toEqual({ ok: false, reason: 'size-mismatch' });
    expect(await exists(partialPath)).toBe(false);
  });

  it('runs out of attempts on a server that keeps undoing its progress', async () => {
    // Plain GETs are cut after 1 000 bytes; ranged GETs get a range that was not asked for.
    const perverse = createServer((req, res) => {
      if (req.headers.range) {
        res.writeHead(206, { 'content-range': `bytes 0-${BODY.length - 1}/${BODY.length}` });
        res.end(BODY);
        return;
      }
      res.writeHead(200, { 'content-length': String(BODY.length) });
      res.write(BODY.subarray(0, 1_000), () => setTimeout(() => res.socket?.destroy(), 20));
    });
    await new Promise<void>((resolve) => perverse.listen(0, '127.0.0.1', resolve));
    const { port } = perverse.address() as AddressInfo;

    try {
      const result = await downloadArtifact(
        request({ url: `http://127.0.0.1:${port}/image.bin`, maxStalledAttempts: 3 }),
      );

      expect(result.ok).toBe(false);
    } finally {
      perverse.closeAllConnections();
      perverse.close();
    }
  });

  it('gives up with download-failed after attempts in a row that bring no byte', async () => {
    const result = await downloadArtifact(request({ url: server.url('missing.bin') }));

    expect(result).toEqual({ ok: false, reason: 'download-failed: HTTP 404' });
    expect(server.requests).toHaveLength(1);
  });

  it('retries a server that keeps dropping before the first byte, then gives up', async () => {
    server.cutNextResponses(10, 0);

    const result = await downloadArtifact(request({ maxStalledAttempts: 3 }));

    expect(result.ok).toBe(false);
    expect(server.requests).toHaveLength(3);
  });
});
