import { deflateRawSync } from 'node:zlib';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import {
  encodeTelemetryBatch,
  MAX_DECODED_BATCH_BYTES,
  MAX_WINDOWS_PER_BATCH,
  type TelemetryBatchV1,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { InMemoryTelemetryHistory } from '../../functions/adapters/in-memory-telemetry-history';
import { InMemoryTelemetryStore } from '../../functions/adapters/in-memory-telemetry-store';
import { makeTelemetryBatch } from '../../functions/device-events/telemetry-batch';
import { newDevice } from '../../functions/domain/device';
import { cohortKey, MAX_RECENT_WINDOWS_BYTES } from '../../functions/domain/telemetry';
import { makeRecordTelemetry, type TelemetryMessage } from '../../functions/use-cases/record-telemetry';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const START = Date.parse('2026-03-01T10:00:00.000Z');

const window = (seq: number, overrides: Partial<TelemetryWindowV1> = {}): TelemetryWindowV1 => ({
  seq,
  start: START + seq * 60_000,
  seconds: 60,
  firmwareVersion: '1.0.0',
  health: 'healthy',
  metrics: {
    'cpu.percent': { count: 6, min: 1, max: 9 + seq, mean: 4, p95: 8 + seq, sum: 24 },
    'memory.used_mib': { count: 6, min: 100, max: 120, mean: 110, p95: 118, sum: 660 },
  },
  ...overrides,
});

const batchOf = (first: number, last: number, overrides: Partial<TelemetryWindowV1> = {}) =>
  encodeTelemetryBatch(Array.from({ length: last - first + 1 }, (_, i) => window(first + i, overrides)));

async function setUp(devices = ['dev-1']) {
  const fleet = new InMemoryFleetStore();
  for (const deviceId of devices) {
    await fleet.createDevice(
      newDevice({ deviceId, hardwareType: 'rpi4', site: 'plant-a', region: 'eu' }, NOW),
    );
    await fleet.completeRegistration(deviceId, `cert-${deviceId}`);
  }
  const store = new InMemoryTelemetryStore(fleet);
  const history = new InMemoryTelemetryHistory();
  let invocation = 0;
  const record = makeRecordTelemetry({ store, history, clock: { now: () => NOW } });
  const recordAll = (...messages: TelemetryMessage[]) => record(`inv-${++invocation}`, messages);
  return { fleet, store, history, recordAll };
}

let messageCount = 0;
const message = (batch: TelemetryBatchV1, deviceId = 'dev-1', messageId = `m${++messageCount}`) => ({
  messageId,
  deviceId,
  batch,
});

describe('recording telemetry batches', () => {
  it("stores the batch, sets the device's latest health from its last window, and writes history rows", async () => {
    const { store, history, recordAll } = await setUp();

    const result = await recordAll(message(batchOf(0, 2, { health: 'degraded' })));

    expect(result.failedMessageIds).toEqual([]);
    expect(store.telemetry.get('dev-1')).toEqual({
      health: 'degraded',
      healthAt: new Date(START + 3 * 60_000).toISOString(),
      telemetrySeconds: 60,
      telemetrySeq: 2,
      metrics: {
        'cpu.percent': { p95: 10, mean: 4, max: 11, sum: 24 },
        'memory.used_mib': { p95: 118, mean: 110, max: 120, sum: 660 },
      },
      telemetryVersion: '1.0.0',
      cohort: 'eu#plant-a#rpi4#1.0.0',
    });
    const stored = [...store.batches.values()];
    expect(stored.map((b) => [b.firstSeq, b.lastSeq, b.windows.length, b.expiresAt])).toEqual([
      [0, 2, 3, Math.floor(NOW.getTime() / 1000) + 14 * 86_400],
    ]);
    expect([...history.objects.keys()]).toEqual(['history/dt=2026-03-01/inv-1.json.gz']);
    expect(history.rows()[0]).toEqual({
      device_id: 'dev-1',
      seq: 0,
      window_start: '2026-03-01T10:00:00.000Z',
      seconds: 60,
      firmware_version: '1.0.0',
      health: 'degraded',
      region: 'eu',
      site: 'plant-a',
      hardware_type: 'rpi4',
      metrics: window(0).metrics,
    });
    expect(history.rows().map((r) => r.seq)).toEqual([0, 1, 2]);
  });

  it('writes nothing for a resent batch (another message): no second item, no history rows', async () => {
    const { store, history, recordAll } = await setUp();
    const batch = batchOf(0, 4);
    await recordAll(message(batch));
    const writes = store.writes;

    const result = await recordAll(message(batch));

    expect(result.outcomes.get(`m${messageCount}`)).toEqual({ kind: 'duplicate' });
    expect(store.writes).toBe(writes);
    expect(store.batches.size).toBe(1);
    expect(history.rows()).toHaveLength(5);
    expect(history.objects.size).toBe(1);
  });

  it('never rolls the latest health back for an older batch arriving late, but keeps its windows', async () => {
    const { store, history, recordAll } = await setUp();

    await recordAll(message(batchOf(10, 12, { health: 'unhealthy' })));
    const late = await recordAll(message(batchOf(0, 2, { health: 'healthy', firmwareVersion: '0.9.0' })));

    expect(store.telemetry.get('dev-1')).toMatchObject({
      telemetrySeq: 12,
      health: 'unhealthy',
      telemetryVersion: '1.0.0',
    });
    expect(store.telemetry.get('dev-1')?.cohort).toBe('eu#plant-a#rpi4#1.0.0');
    expect([...late.outcomes.values()]).toEqual([
      { kind: 'accepted', latest: 'stale', cohortChanged: false },
    ]);
    expect(store.batches.size).toBe(2);
    expect(
      history
        .rows()
        .map((r) => r.seq)
        .sort((a, b) => a - b),
    ).toEqual([0, 1, 2, 10, 11, 12]);
  });

  it('moves the device to a new cohort when its version changes, creating the cohort entry once', async () => {
    const { store, recordAll } = await setUp(['dev-1', 'dev-2']);

    await recordAll(message(batchOf(0, 1)), message(batchOf(0, 1), 'dev-2'));
    const writesBefore = store.writes;
    await recordAll(message(batchOf(2, 3)));
    const unchangedWrites = store.writes - writesBefore;
    await recordAll(
      message(batchOf(4, 5, { firmwareVersion: '1.1.0' })),
      message(batchOf(2, 3, { firmwareVersion: '1.1.0' }), 'dev-2'),
    );

    expect(unchangedWrites).toBe(2); // the latest health and the batch: no cohort write
    expect(store.telemetry.get('dev-1')?.cohort).toBe('eu#plant-a#rpi4#1.1.0');
    expect(store.telemetry.get('dev-2')?.cohort).toBe('eu#plant-a#rpi4#1.1.0');
    expect([...store.cohorts.keys()].sort()).toEqual(['eu#plant-a#rpi4#1.0.0', 'eu#plant-a#rpi4#1.1.0']);
    expect(store.cohorts.get('eu#plant-a#rpi4#1.1.0')).toEqual({
      region: 'eu',
      site: 'plant-a',
      hardwareType: 'rpi4',
      version: '1.1.0',
    });
  });

  it('drops a batch of an unknown or unregistered device, writing nothing', async () => {
    const { fleet, store, history, recordAll } = await setUp();
    await fleet.createDevice(
      newDevice({ deviceId: 'pending', hardwareType: 'rpi4', site: 's', region: 'r' }, NOW),
    );

    const result = await recordAll(message(batchOf(0, 1), 'ghost'), message(batchOf(0, 1), 'pending'));

    expect([...result.outcomes.values()]).toEqual([{ kind: 'unknown-device' }, { kind: 'unknown-device' }]);
    expect(result.failedMessageIds).toEqual([]);
    expect(store.writes).toBe(0);
    expect(history.objects.size).toBe(0);
  });

  it.each([
    ['count does not match', { ...batchOf(0, 2), count: 2 }, /count is 2, data holds 3/],
    ['firstSeq does not match', { ...batchOf(0, 2), firstSeq: 1 }, /firstSeq\/lastSeq/],
    [
      'data is not deflated',
      { ...batchOf(0, 2), data: Buffer.from('plain').toString('base64') },
      /does not inflate/,
    ],
    [
      'data is not JSON',
      { ...batchOf(0, 0), data: deflateRawSync(Buffer.from('{nope')).toString('base64') },
      /not JSON/,
    ],
    [
      'a window is invalid',
      {
        ...batchOf(0, 0),
        data: deflateRawSync(Buffer.from(JSON.stringify([{ ...window(0), health: 'fine' }]))).toString(
          'base64',
        ),
      },
      /windows\.0\.health/,
    ],
    [
      'windows do not ascend',
      {
        ...batchOf(0, 1),
        lastSeq: 0,
        data: deflateRawSync(Buffer.from(JSON.stringify([window(0), window(0)]))).toString('base64'),
      },
      /must ascend/,
    ],
    [
      'it inflates past the limit (a zip bomb)',
      {
        ...batchOf(0, 0),
        data: deflateRawSync(Buffer.alloc(MAX_DECODED_BATCH_BYTES * 4, 0x20)).toString('base64'),
      },
      /does not inflate/,
    ],
    [
      'it holds more windows than a batch may',
      {
        ...batchOf(0, 0),
        count: 121,
        lastSeq: 120,
        data: deflateRawSync(
          Buffer.from(JSON.stringify(Array.from({ length: MAX_WINDOWS_PER_BATCH + 1 }, (_, i) => window(i)))),
        ).toString('base64'),
      },
      /windows/,
    ],
  ])('refuses a batch whose %s, with the reason, writing nothing', async (_case, batch, reason) => {
    const { store, history, recordAll } = await setUp();

    const result = await recordAll(message(batch as TelemetryBatchV1));

    const outcome = [...result.outcomes.values()][0];
    expect(outcome?.kind).toBe('refused');
    expect(outcome?.kind === 'refused' ? outcome.reason : '').toMatch(reason);
    expect(store.writes).toBe(0);
    expect(history.objects.size).toBe(0);
  });

  it('retries every batch whose history could not be written, and the retry writes their rows', async () => {
    const { store, history, recordAll } = await setUp(['dev-1', 'dev-2']);
    const first = message(batchOf(0, 2));
    const second = message(batchOf(0, 1), 'dev-2');
    const resend = message(batchOf(0, 2)); // the same batch in another message: no rows of its own
    history.failCommits = 1;

    const failed = await recordAll(first, second);
    const retried = await recordAll(first, second, resend);

    expect([...failed.failedMessageIds].sort()).toEqual([first.messageId, second.messageId].sort());
    expect(history.objects.size).toBe(1);
    expect(retried.failedMessageIds).toEqual([]);
    expect(retried.outcomes.get(resend.messageId)).toEqual({ kind: 'duplicate' });
    expect(
      history
        .rows()
        .map((r) => `${r.device_id}:${r.seq}`)
        .sort(),
    ).toEqual(['dev-1:0', 'dev-1:1', 'dev-1:2', 'dev-2:0', 'dev-2:1']);
    expect(store.batches.size).toBe(2);
    expect(store.telemetry.get('dev-1')?.telemetrySeq).toBe(2);
  });

  it('retries only the message whose write failed; the others are recorded', async () => {
    const { store, history, recordAll } = await setUp(['dev-1', 'flaky']);
    const putBatch = store.putBatch.bind(store);
    store.putBatch = async (batch) => {
      if (batch.deviceId === 'flaky')
        throw new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
      return putBatch(batch);
    };
    const ok = message(batchOf(0, 1));
    const flaky = message(batchOf(0, 1), 'flaky');

    const result = await recordAll(ok, flaky);

    expect(result.failedMessageIds).toEqual([flaky.messageId]);
    expect(history.rows().map((r) => r.device_id)).toEqual(['dev-1', 'dev-1']);
  });

  it('sets the cohort on a retry when the first attempt applied the latest health but failed after', async () => {
    const { store, recordAll } = await setUp();
    const setDeviceCohort = store.setDeviceCohort.bind(store);
    let fail = true;
    store.setDeviceCohort = async (...args) => {
      if (fail) {
        fail = false;
        throw new Error('network');
      }
      return setDeviceCohort(...args);
    };
    const batch = message(batchOf(0, 1));

    expect((await recordAll(batch)).failedMessageIds).toEqual([batch.messageId]);
    expect((await recordAll(batch)).failedMessageIds).toEqual([]);

    expect(store.telemetry.get('dev-1')?.cohort).toBe('eu#plant-a#rpi4#1.0.0');
    expect(store.cohorts.size).toBe(1);
  });

  it('keeps a batch too large for one DynamoDB item cut to the essential metrics, the history whole', async () => {
    const { store, history, recordAll } = await setUp();
    const metrics = Object.fromEntries(
      Array.from({ length: 30 }, (_, m) => [
        `app.metric_${m}`,
        { count: 60, min: 0.123456, max: 99.87654, mean: 50.5, p95: 90.25, sum: 3030.5 },
      ]),
    );
    const windows = Array.from({ length: MAX_WINDOWS_PER_BATCH }, (_, i) =>
      window(i, { metrics: { ...window(i).metrics, ...metrics } }),
    );
    expect(Buffer.byteLength(JSON.stringify(windows))).toBeGreaterThan(MAX_RECENT_WINDOWS_BYTES);

    await recordAll(message(encodeTelemetryBatch(windows)));

    const stored = [...store.batches.values()][0];
    expect(stored?.trimmed).toBe(true);
    expect(Object.keys(stored?.windows[0]?.metrics ?? {})).toEqual(['cpu.percent', 'memory.used_mib']);
    expect(Object.keys(history.rows()[0]?.metrics ?? {})).toHaveLength(32);
  });

  it('records 100 messages of 120 windows of 32 metrics in one invocation within seconds', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `dev-${i}`);
    const { history, recordAll } = await setUp(ids);
    const metrics = Object.fromEntries(
      Array.from({ length: 32 }, (_, m) => [
        `app.metric_${m}`,
        { count: 60, min: m, max: 100, mean: 50, p95: 90, sum: 3000 },
      ]),
    );
    const messages = ids.map((id) =>
      message(
        encodeTelemetryBatch(Array.from({ length: MAX_WINDOWS_PER_BATCH }, (_, i) => window(i, { metrics }))),
        id,
      ),
    );

    const started = performance.now();
    const result = await recordAll(...messages);
    const elapsedMs = performance.now() - started;

    console.log(`100 × 120 windows × 32 metrics recorded in ${elapsedMs.toFixed(0)} ms`);
    expect(result.failedMessageIds).toEqual([]);
    expect(result.historyRows).toBe(12_000);
    expect(history.rows()).toHaveLength(12_000);
    expect(elapsedMs).toBeLessThan(10_000);
  });
});

describe('cohort keys', () => {
  it('joins region, site, hardware type and version with #', () => {
    expect(cohortKey({ region: 'eu', site: 'plant-a', hardwareType: 'rpi4', version: '1.2.3' })).toBe(
      'eu#plant-a#rpi4#1.2.3',
    );
  });

  it('keeps two cohorts apart when their labels hold # themselves', () => {
    const a = cohortKey({ region: 'eu#north', site: 'a', hardwareType: 'rpi4', version: '1' });
    const b = cohortKey({ region: 'eu', site: 'north#a', hardwareType: 'rpi4', version: '1' });

    expect(a).not.toBe(b);
    expect(a).toBe('eu%23north#a#rpi4#1');
  });
});

describe('the telemetry queue handler', () => {
  const sqsEvent = (...bodies: unknown[]): SQSEvent => ({
    Records: bodies.map((body, i) => ({
      messageId: `q${i}`,
      receiptHandle: `r${i}`,
      body: typeof body === 'string' ? body : JSON.stringify(body),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: '1767225600000',
        SenderId: 'AROAEXAMPLE',
        ApproximateFirstReceiveTimestamp: '1767225600000',
      },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:TelemetryQueue',
      awsRegion: 'eu-west-1',
    })),
  });

  it('takes the device from the thing name the rule added, and drops malformed messages', async () => {
    const { store, history } = await setUp();
    const handle = makeTelemetryBatch({
      recordTelemetry: makeRecordTelemetry({ store, history, clock: { now: () => NOW } }),
    });

    const response = await handle(
      sqsEvent(
        { ...batchOf(0, 1), thingName: 'dev-1' },
        'not json',
        { ...batchOf(2, 3), thingName: 'dev-1', extra: true },
        { ...batchOf(2, 3) },
      ),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect([...store.batches.keys()]).toEqual(['dev-1 TELEMETRY#000000000000']);
    expect(history.rows()).toHaveLength(2);
  });
});
