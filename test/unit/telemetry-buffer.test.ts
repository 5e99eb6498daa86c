import { appendFile, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeTelemetryBatch, TelemetryBatchV1, type TelemetryWindowV1 } from '../../contract/telemetry';
import { cutToEssentials, essentialsOnly, TelemetryOutbox } from '../../device/telemetry/telemetry-outbox';
import type { ClosedWindow } from '../../device/telemetry/window-aggregator';
import { WindowBuffer } from '../../device/telemetry/window-buffer';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'telemetry-buffer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const window = (i: number): ClosedWindow => ({
  start: T0 + i * 60_000,
  seconds: 60,
  firmwareVersion: '1.0.0',
  health: 'healthy',
  metrics: {
    'cpu.percent': { count: 6, min: i, max: i + 5, mean: i + 2.5, p95: i + 5, sum: 6 * i + 15 },
    'memory.used_mib': { count: 6, min: 100, max: 110, mean: 105, p95: 110, sum: 630 },
  },
});
const open = (extra: Partial<Parameters<typeof WindowBuffer.open>[0]> = {}) =>
  WindowBuffer.open({ dir, fsync: false, ...extra });

describe('WindowBuffer', () => {
  it('hands out seqs from 0 and returns the oldest unacknowledged windows in order', async () => {
    const buffer = await open();
    for (let i = 0; i < 5; i++) await buffer.append(window(i));

    const oldest = await buffer.oldest(3);

    expect(oldest.map((w) => w.seq)).toEqual([0, 1, 2]);
    expect(oldest[1]?.start).toBe(T0 + 60_000);
    expect(buffer.pending).toBe(5);
  });

  it('drops the oldest windows past its cap and counts them into the next kept window', async () => {
    const buffer = await open({ capBytes: 16 * 1024, segmentBytes: 4 * 1024 });
    for (let i = 0; i < 100; i++) await buffer.append(window(i));

    const kept = await buffer.oldest(200);

    expect(buffer.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(buffer.droppedTotal).toBeGreaterThan(0);
    const first = kept[0] as TelemetryWindowV1;
    expect(first.seq).toBe(buffer.droppedTotal);
    expect(first.dropped).toBe(buffer.droppedTotal);
    expect(kept.at(-1)?.seq).toBe(99);
    expect(kept.slice(1).every((w) => w.dropped === undefined)).toBe(true);
    // Every window is either kept or counted as dropped.
    expect(kept.length + buffer.droppedTotal).toBe(100);
  });

  it('keeps the drop count across a restart until the window carrying it is acknowledged', async () => {
    const first = await open({ capBytes: 16 * 1024, segmentBytes: 4 * 1024 });
    for (let i = 0; i < 100; i++) await first.append(window(i));
    const dropped = first.droppedTotal;
    expect(dropped).toBeGreaterThan(0);

    const reopened = await open({ capBytes: 16 * 1024, segmentBytes: 4 * 1024 });
    const [head] = await reopened.oldest(1);
    expect(head?.dropped).toBe(dropped);

    await reopened.acknowledge(head?.seq ?? -1);
    const [next] = await reopened.oldest(1);
    expect(next?.seq).toBe((head?.seq ?? 0) + 1);
    expect(next?.dropped).toBeUndefined();
  });

  it('does not count windows of the batch in flight as dropped when their segment goes', async () => {
    const buffer = await open({ capBytes: 16 * 1024, segmentBytes: 4 * 1024 });
    for (let i = 0; i < 10; i++) await buffer.append(window(i));
    buffer.setInFlightThrough(9);
    for (let i = 10; i < 100; i++) await buffer.append(window(i));

    const kept = await buffer.oldest(100);

    expect(kept[0]?.seq).toBeGreaterThan(9);
    expect(buffer.droppedTotal).toBe(kept[0]?.seq === 10 ? 0 : (kept[0]?.seq ?? 0) - 10);
    expect(kept[0]?.dropped ?? 0).toBe(buffer.droppedTotal);
  });

  it('ignores a torn last line on reopen and appends the next window on a line of its own', async () => {
    const buffer = await open();
    for (let i = 0; i < 3; i++) await buffer.append(window(i));
    const [segment] = await readdir(join(dir, 'windows'));
    // A power cut in the middle of the fourth append.
    await appendFile(join(dir, 'windows', segment ?? ''), '{"seq":3,"start":17,"sec');

    const reopened = await open();
    expect(reopened.pending).toBe(3);
    const appended = await reopened.append(window(3));
    expect(appended.seq).toBe(3);

    const again = await open();
    expect((await again.oldest(10)).map((w) => w.seq)).toEqual([0, 1, 2, 3]);
    const text = await readFile(join(dir, 'windows', segment ?? ''), 'utf8');
    expect(
      text
        .split('\n')
        .filter(Boolean)
        .every((line) => JSON.parse(line).seq >= 0),
    ).toBe(true);
  });

  it('never reuses a seq after a restart, even once everything was acknowledged and deleted', async () => {
    const buffer = await open();
    for (let i = 0; i < 4; i++) await buffer.append(window(i));
    await buffer.acknowledge(3);
    expect(await readdir(join(dir, 'windows'))).toEqual([]);

    const reopened = await open();
    const next = await reopened.append(window(4));

    expect(next.seq).toBe(4);
  });

  it('never reuses a seq of a batch on disk whose windows were lost (minNextSeq)', async () => {
    const buffer = await open({ minNextSeq: 42 });

    expect((await buffer.append(window(0))).seq).toBe(42);
  });
});

describe('TelemetryOutbox', () => {
  it('keeps the formed batch on disk and gives back the same bytes after a restart', async () => {
    const buffer = await open();
    for (let i = 0; i < 5; i++) await buffer.append(window(i));
    const outbox = await TelemetryOutbox.open(dir, { fsync: false });
    const formed = await outbox.form(await buffer.oldest(120));

    const reopened = await TelemetryOutbox.open(dir, { fsync: false });

    expect(reopened.pending?.payload).toBe(formed.payload);
    const decoded = decodeTelemetryBatch(TelemetryBatchV1.parse(JSON.parse(formed.payload)));
    expect(decoded.ok && decoded.windows.map((w) => w.seq)).toEqual([0, 1, 2, 3, 4]);
    await reopened.clear();
    expect((await TelemetryOutbox.open(dir, { fsync: false })).pending).toBeUndefined();
  });
});

describe('bandwidth policy cut', () => {
  const policy = {
    onMetered: 'wait' as const,
    windows: [{ start: '02:00', end: '03:00' }],
    timeZone: 'UTC',
  };
  const noon = T0;
  const twoThirty = Date.UTC(2026, 10, 27, 2, 30);

  it('cuts only on a metered link outside the policy windows', () => {
    expect(essentialsOnly({ policy, metered: true }, noon)).toBe(true);
    expect(essentialsOnly({ policy, metered: true }, twoThirty)).toBe(false);
    expect(essentialsOnly({ policy, metered: false }, noon)).toBe(false);
    expect(essentialsOnly({ policy: { onMetered: 'wait', timeZone: 'UTC' }, metered: true }, noon)).toBe(
      false,
    );
    expect(essentialsOnly({ policy: undefined, metered: true }, noon)).toBe(false);
  });

  it('keeps the essential metrics and marks the window partial', () => {
    const full = window(0);
    const disk = { count: 1, min: 50, max: 50, mean: 50, p95: 50, sum: 50 };
    const cut = cutToEssentials({ seq: 0, ...full, metrics: { ...full.metrics, 'disk.used_percent': disk } });

    expect(Object.keys(cut.metrics)).toEqual(['cpu.percent', 'memory.used_mib']);
    expect(cut.partial).toBe(true);
  });
});
