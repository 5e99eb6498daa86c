import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDelta } from '../../contract/zstd-delta';
import { downloadArtifact } from '../../device/ota/artifact-download';
import { rebuildFromDelta } from '../../device/ota/delta-rebuild';
import {
  DEFAULT_ALLOWANCE_SECONDS,
  DEFAULT_MIN_BYTES_PER_SECOND,
  DownloadClock,
  downloadBudget,
  wallMsPerDownloadMs,
} from '../../device/ota/download-budget';
import { type LocalArtifactServer, startLocalArtifactServer } from '../../simulator/local-artifact-server';
import { noise, sha256 } from '../support/bytes';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('downloadBudget', () => {
  it('gives a fixed allowance plus the signed length at the floor rate', () => {
    expect(DEFAULT_MIN_BYTES_PER_SECOND).toBe(8 * KiB);
    expect(DEFAULT_ALLOWANCE_SECONDS).toBe(600);
    expect(downloadBudget(256 * KiB)).toEqual({
      signedLength: 256 * KiB,
      minBytesPerSecond: 8 * KiB,
      allowanceMs: 600_000,
      deadlineMs: 632_000,
    });
    const seconds = (length: number) => downloadBudget(length).deadlineMs / 1000;
    expect(seconds(10 * MiB)).toBe(1_880); // 31 min
    expect(seconds(100 * MiB)).toBe(13_400); // 3.7 h
    expect(seconds(GiB)).toBe(131_672); // 36.6 h
  });

  it('lets a 1 GiB image finish on a slow but working 256 kbit/s cellular link, with room to spare', () => {
    const cellular = 256_000 / 8;
    const needsMs = (GiB / cellular) * 1000;
    expect(downloadBudget(GiB).deadlineMs).toBeGreaterThan(3 * needsMs);
  });

  it('ends a trickle of one byte every 20 s long before it would finish', () => {
    const needsMs = 256 * KiB * 20_000;
    const { deadlineMs } = downloadBudget(256 * KiB);
    expect(deadlineMs).toBeLessThan(needsMs / 5_000);
    expect(deadlineMs).toBeLessThan(15 * 60_000);
  });

  it('takes a floor and an allowance per hardware type; maxSeconds caps the deadline', () => {
    expect(downloadBudget(100_000, { minBytesPerSecond: 1_000 }).deadlineMs).toBe(700_000);
    expect(downloadBudget(100_000, { minBytesPerSecond: 1_000, allowanceSeconds: 0 }).deadlineMs).toBe(
      100_000,
    );
    expect(downloadBudget(GiB, { maxSeconds: 7_200 }).deadlineMs).toBe(7_200_000);
    // A ceiling, not a replacement: a small image keeps its shorter deadline.
    expect(downloadBudget(8 * KiB, { maxSeconds: 7_200 }).deadlineMs).toBe(601_000);
  });

  it('ignores limits that are not finite positive numbers', () => {
    const defaults = downloadBudget(MiB);
    for (const bad of [0, -5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(downloadBudget(MiB, { minBytesPerSecond: bad, maxSeconds: bad })).toEqual(defaults);
    expect(downloadBudget(MiB, { allowanceSeconds: -1 })).toEqual(defaults);
  });

  it('runs the budget faster under a time factor, but gives real I/O up to ten times back', () => {
    expect(wallMsPerDownloadMs(1)).toBe(1);
    expect(wallMsPerDownloadMs(0.5)).toBe(1);
    expect(wallMsPerDownloadMs(0.1)).toBe(1);
    expect(wallMsPerDownloadMs(0.01)).toBeCloseTo(0.1);
    expect(wallMsPerDownloadMs(0.001)).toBeCloseTo(0.01);
    expect(wallMsPerDownloadMs(0)).toBe(1);
  });

  it('counts from the time spent before and aborts at once when that is all of it', () => {
    const budget = downloadBudget(1_000, { maxSeconds: 10 });
    let now = 0;
    const clock = new DownloadClock(budget, { spentMs: 4_000, wallNow: () => now });
    now = 1_500;
    expect(clock.spentMs).toBe(5_500);
    expect(clock.expired).toBe(false);
    clock.stop();
    now = 9_000;
    expect(clock.spentMs).toBe(5_500);

    expect(new DownloadClock(budget, { spentMs: 10_000 }).expired).toBe(true);
  });

  it('keeps a budget longer than a timer can wait (24.8 days) running instead of ending it at once', () => {
    const clock = new DownloadClock(downloadBudget(GiB, { minBytesPerSecond: 10 }));
    expect(clock.expired).toBe(false);
    clock.stop();
  });
});

const IMAGE = noise(4_000, 7);

let server: LocalArtifactServer;
let dir: string;
let partialPath: string;

beforeEach(async () => {
  server = await startLocalArtifactServer({ 'image.bin': IMAGE });
  dir = await mkdtemp(join(tmpdir(), 'edgeops-budget-'));
  partialPath = join(dir, 'downloads', 'image.part');
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const request = (overrides: Partial<Parameters<typeof downloadArtifact>[0]> = {}) => ({
  url: server.url('image.bin'),
  size: IMAGE.length,
  sha256: sha256(IMAGE),
  partialPath,
  retryDelayMs: 1,
  ...overrides,
});

/** 4 000 bytes at 4 000 B/s plus 0.5 s: a deadline of 1.5 s. */
const SMALL_BUDGET = downloadBudget(IMAGE.length, { minBytesPerSecond: 4_000, allowanceSeconds: 0.5 });

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

async function timed<T>(work: Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now();
  const result = await work;
  return { result, ms: performance.now() - started };
}

describe('downloadArtifact within its budget', () => {
  it('ends a trickle (1 byte every 20 ms) with download-too-slow at its deadline, deleting the partial', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 });

    const { result, ms } = await timed(downloadArtifact(request({ budget: SMALL_BUDGET })));

    expect(result).toEqual({
      ok: false,
      reason: expect.stringMatching(
        /^download-too-slow: \d{1,3}\/4000 bytes after 1\.\d s, floor 4000 B\/s, deadline 1\.5 s$/,
      ),
    });
    expect(ms).toBeGreaterThan(1_400);
    expect(ms).toBeLessThan(2_500);
    expect(await exists(partialPath)).toBe(false);
  });

  it('ends a request the server never answers at the deadline, not at the 30 s idle timeout', async () => {
    server.injectFault({ kind: 'hang' });

    const { result, ms } = await timed(downloadArtifact(request({ budget: SMALL_BUDGET })));

    expect(result.ok || result.reason).toMatch(/^download-too-slow: 0\/4000 bytes after 1\.\d s/);
    expect(ms).toBeLessThan(2_500);
  });

  it('finishes on a slow link that keeps above the floor', async () => {
    // 200 bytes every 20 ms: 10 000 B/s against a floor of 4 000 B/s.
    server.injectFault({ kind: 'trickle', bytes: 200, everyMs: 20 });

    const result = await downloadArtifact(request({ budget: SMALL_BUDGET }));

    expect(result).toMatchObject({ ok: true, requests: 1 });
  });

  it('ends a body that never ends with size-mismatch, as soon as it passes the signed length', async () => {
    server.injectFault({ kind: 'endless' });

    const { result, ms } = await timed(downloadArtifact(request({ budget: SMALL_BUDGET })));

    expect(result).toEqual({ ok: false, reason: 'size-mismatch' });
    expect(ms).toBeLessThan(1_000);
    expect(await exists(partialPath)).toBe(false);
  });

  it('continues the budget spent before a restart, and reports the time spent as it goes', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 });
    const reported: number[] = [];

    const { result, ms } = await timed(
      downloadArtifact(
        request({
          budget: SMALL_BUDGET,
          spentMs: 1_000,
          onSpent: async (spentMs) => {
            reported.push(spentMs);
          },
        }),
      ),
    );

    expect(result.ok || result.reason).toMatch(/^download-too-slow: .* after 1\.\d s/);
    expect(ms).toBeLessThan(1_000);
    expect(reported.length).toBeGreaterThan(2);
    expect(reported[0]).toBeGreaterThan(1_000);
    expect(reported).toEqual([...reported].sort((a, b) => a - b));
  });

  it('does not even ask when the budget was spent before, and keeps nothing', async () => {
    await mkdir(join(dir, 'downloads'));
    await writeFile(partialPath, IMAGE.subarray(0, 100));

    const result = await downloadArtifact(request({ budget: SMALL_BUDGET, spentMs: 1_500 }));

    expect(result.ok || result.reason).toMatch(/^download-too-slow: 100\/4000 bytes after 1\.5 s/);
    expect(server.requests).toHaveLength(0);
    expect(await exists(partialPath)).toBe(false);
  });

  it('in fast time counts download time faster: 10 s of budget at time factor 0.01 is 1 s', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 });

    const { result, ms } = await timed(
      downloadArtifact(
        request({ budget: downloadBudget(IMAGE.length, { maxSeconds: 10 }), timeFactor: 0.01 }),
      ),
    );

    expect(result.ok || result.reason).toMatch(/^download-too-slow: .* after 1\d s, .*deadline 10 s$/);
    expect(ms).toBeGreaterThan(900);
    expect(ms).toBeLessThan(2_500);
  });

  it('in fast time still gives real I/O ten times the device time, so a simulation does not fail falsely', async () => {
    // 300 ms of real transfer; 100 s of budget at time factor 0.001 would be 100 ms if only scaled.
    server.injectFault({ kind: 'trickle', bytes: 400, everyMs: 30 });

    const result = await downloadArtifact(
      request({ budget: downloadBudget(IMAGE.length, { maxSeconds: 100 }), timeFactor: 0.001 }),
    );

    expect(result.ok).toBe(true);
  });
});

describe('rebuildFromDelta within its budget', () => {
  const BASE = noise(60_000, 1);
  const TARGET = Buffer.concat([BASE.subarray(0, 20_000), noise(6_000, 2), BASE.subarray(26_000)]);
  let patch: Buffer;
  let basePath: string;

  beforeEach(async () => {
    patch ??= await createDelta(BASE, TARGET, { level: 3 });
    server.put('image.delta', patch);
    basePath = join(dir, 'a.img');
    await writeFile(basePath, BASE);
  });

  const deltaRequest = (overrides: Partial<Parameters<typeof rebuildFromDelta>[0]> = {}) => ({
    patch: { url: server.url('image.delta'), sha256: sha256(patch), size: patch.length },
    baseImagePath: basePath,
    base: { sha256: sha256(BASE), size: BASE.length },
    image: { sha256: sha256(TARGET), size: TARGET.length },
    partialPath: join(dir, 'downloads', 'patch.part'),
    outputPath: join(dir, 'downloads', 'image.bin'),
    retryDelayMs: 1,
    ...overrides,
  });

  it('ends a trickling patch with delta-patch-download-too-slow, leaving nothing behind', async () => {
    server.injectFault({ kind: 'trickle', bytes: 1, everyMs: 20 }, { path: 'image.delta' });

    const { result, ms } = await timed(
      rebuildFromDelta(deltaRequest({ budget: downloadBudget(patch.length, { maxSeconds: 1 }) })),
    );

    expect(result).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/^delta-patch-download-too-slow: \d+\/\d+ bytes after 1(\.\d)? s/),
    });
    expect(ms).toBeLessThan(2_000);
    expect(await readdir(join(dir, 'downloads'))).toEqual([]);
  });

  it('ends a patch that never ends with delta-patch-size-mismatch', async () => {
    server.injectFault({ kind: 'endless' }, { path: 'image.delta' });

    const { result, ms } = await timed(rebuildFromDelta(deltaRequest()));

    expect(result).toMatchObject({ ok: false, reason: 'delta-patch-size-mismatch' });
    expect(ms).toBeLessThan(1_000);
  });

  it('rebuilds over a slow link that keeps above the floor', async () => {
    // About 1 kB every 10 ms: ~100 kB/s against a floor of 20 kB/s.
    server.injectFault({ kind: 'trickle', bytes: 1_000, everyMs: 10 }, { path: 'image.delta' });

    const result = await rebuildFromDelta(
      deltaRequest({
        budget: downloadBudget(patch.length, { minBytesPerSecond: 20_000, allowanceSeconds: 0.5 }),
      }),
    );

    expect(result).toMatchObject({ ok: true });
  });
});
