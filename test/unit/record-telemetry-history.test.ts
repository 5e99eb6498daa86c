import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  HISTORY_PREFIX,
  historyObjectKey,
  S3TelemetryHistory,
} from '../../functions/adapters/s3-telemetry-history';
import type { HistoryRow } from '../../functions/domain/telemetry';

const row = (seq: number): HistoryRow => ({
  device_id: 'dev-1',
  seq,
  window_start: '2026-03-01T10:00:00.000Z',
  seconds: 60,
  firmware_version: '1.0.0',
  health: 'healthy',
  region: 'eu',
  site: 'plant-a',
  hardware_type: 'rpi4',
  metrics: { 'cpu.percent': { count: 6, min: 1, max: 9, mean: 4, p95: 8, sum: 24 } },
});

function bucket() {
  const puts: { bucket: string; key: string; body: Buffer; contentType?: string }[] = [];
  const s3 = {
    putObject: async (
      b: string,
      key: string,
      body: string | Uint8Array,
      options?: { contentType?: string },
    ) => {
      puts.push({ bucket: b, key, body: Buffer.from(body), contentType: options?.contentType });
      return { versionId: undefined };
    },
  };
  return { puts, history: new S3TelemetryHistory(s3, 'telemetry-bucket') };
}

describe('the telemetry history in S3', () => {
  it('writes the rows of an invocation as one gzip NDJSON object under history/dt=<date>/', async () => {
    const { puts, history } = bucket();
    const object = history.begin('request-1', '2026-03-01');

    object.append([row(0), row(1)]);
    object.append([row(2)]);
    await object.commit();

    expect(puts.map((p) => [p.bucket, p.key, p.contentType])).toEqual([
      ['telemetry-bucket', 'history/dt=2026-03-01/request-1.json.gz', 'application/x-ndjson'],
    ]);
    const lines = gunzipSync(puts[0]?.body ?? Buffer.alloc(0))
      .toString('utf8')
      .trimEnd()
      .split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual([row(0), row(1), row(2)]);
    expect(object.rowCount).toBe(3);
  });

  it('writes no object for an invocation without rows', async () => {
    const { puts, history } = bucket();

    await history.begin('request-2', '2026-03-01').commit();

    expect(puts).toEqual([]);
  });

  it('keeps every object under the prefix the Glue table reads', () => {
    expect(historyObjectKey('2026-03-01', 'x').startsWith(HISTORY_PREFIX)).toBe(true);
  });
});
