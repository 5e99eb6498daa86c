import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import type { TelemetryWindowV1 } from '../../contract/telemetry';
import { cohortOf, DynamoDbFleetHealthReader } from '../../functions/adapters/dynamodb-fleet-health-reader';
import { InMemoryFleetHealthReader } from '../../functions/adapters/in-memory-fleet-health-reader';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { newDevice } from '../../functions/domain/device';
import { DeviceNotFoundError } from '../../functions/domain/errors';
import {
  type FleetSummaryCohort,
  summarizeFleet,
  weightedMedian,
} from '../../functions/domain/fleet-summary';
import { deviceView } from '../../functions/operator-api/device-view';
import { DeviceTelemetryQuery, FleetSummaryQuery } from '../../functions/operator-api/schemas';
import { parseInput } from '../../functions/shared/parse';
import { makeGetDeviceTelemetry } from '../../functions/use-cases/get-device-telemetry';
import { makeListAnomalies } from '../../functions/use-cases/list-anomalies';

const cohort = (
  site: string,
  version: string,
  stats: Partial<FleetSummaryCohort> & { devices: number },
): FleetSummaryCohort => ({
  cohort: `eu#${site}#rpi4#${version}`,
  region: 'eu',
  site,
  hardwareType: 'rpi4',
  version,
  analyzedAt: '2026-11-02T10:00:00.000Z',
  fresh: stats.devices,
  connected: stats.devices,
  health: { healthy: stats.devices, degraded: 0, unhealthy: 0, unknown: 0 },
  anomalous: 0,
  metrics: {},
  scored: true,
  ...stats,
});

const fleet = [
  cohort('plant-a', '1.0.0', {
    devices: 30,
    connected: 28,
    health: { healthy: 25, degraded: 3, unhealthy: 2, unknown: 0 },
    anomalous: 1,
    metrics: { 'memory.used_mib': { median: 400, p95: 450, devices: 30 } },
  }),
  cohort('plant-a', '1.1.0', {
    devices: 10,
    connected: 10,
    analyzedAt: '2026-11-02T09:55:00.000Z',
    health: { healthy: 8, degraded: 0, unhealthy: 0, unknown: 2 },
    metrics: { 'memory.used_mib': { median: 520, p95: 600, devices: 8 } },
  }),
  cohort('plant-b', '1.0.0', {
    devices: 5,
    connected: 1,
    metrics: { 'memory.used_mib': { median: 380, p95: 390, devices: 5 } },
  }),
  // Created by ingestion, not analyzed yet: labels only.
  { cohort: 'eu#plant-c#rpi4#1.0.0', region: 'eu', site: 'plant-c', hardwareType: 'rpi4', version: '1.0.0' },
];

describe('summarizeFleet', () => {
  it('gives fleet totals without groupBy, with the oldest analyzedAt and the cohorts not analyzed yet', () => {
    const summary = summarizeFleet(fleet, []);

    expect(summary).toMatchObject({ analyzedAt: '2026-11-02T09:55:00.000Z', cohorts: 3, pendingCohorts: 1 });
    expect(summary.groups).toEqual([
      expect.objectContaining({
        key: {},
        devices: 45,
        connected: 39,
        health: { healthy: 38, degraded: 3, unhealthy: 2, unknown: 2 },
        anomalous: 1,
      }),
    ]);
  });

  it('groups by version with the spread of cohort medians, never a made-up pooled median', () => {
    const groups = summarizeFleet(fleet, ['version']).groups;

    expect(groups.map((g) => [g.key.version, g.devices, g.pendingCohorts])).toEqual([
      ['1.0.0', 35, 1],
      ['1.1.0', 10, 0],
    ]);
    expect(groups[0]?.metrics).toBeUndefined();
    expect(groups[0]?.cohortMedians?.['memory.used_mib']).toEqual({
      min: 380,
      max: 400,
      weightedMedian: 400,
      cohorts: 2,
    });
    expect(groups[1]?.metrics).toEqual({ 'memory.used_mib': { median: 520, p95: 600, devices: 8 } });
  });

  it('gives a single cohort its exact statistics when grouped by all four labels', () => {
    const groups = summarizeFleet(fleet, ['region', 'site', 'hardwareType', 'version']).groups;
    expect(groups).toHaveLength(4);
    expect(groups[0]).toMatchObject({
      key: { region: 'eu', site: 'plant-a', hardwareType: 'rpi4', version: '1.0.0' },
      metrics: { 'memory.used_mib': { median: 400, p95: 450 } },
    });
  });

  it('splits the counts by health, leaving out empty states', () => {
    const groups = summarizeFleet(fleet, ['site', 'health']).groups;

    expect(groups.map((g) => [g.key.site, g.key.health, g.devices])).toEqual([
      ['plant-a', 'degraded', 3],
      ['plant-a', 'healthy', 33],
      ['plant-a', 'unhealthy', 2],
      ['plant-a', 'unknown', 2],
      ['plant-b', 'healthy', 5],
    ]);
    expect(groups.find((g) => g.key.health === 'unknown')?.analyzedAt).toBe('2026-11-02T09:55:00.000Z');
    expect(groups[0]).not.toHaveProperty('health');
  });

  it('splits by connection: connected, and every other device as disconnected', () => {
    const groups = summarizeFleet(fleet, ['connectionState']).groups;
    expect(groups.map((g) => [g.key.connectionState, g.devices])).toEqual([
      ['connected', 39],
      ['disconnected', 6],
    ]);
  });

  it('answers an empty fleet with no freshness', () => {
    expect(summarizeFleet([], [])).toMatchObject({ analyzedAt: null, cohorts: 0, groups: [] });
  });

  it('takes the weighted median of cohort medians', () => {
    expect(
      weightedMedian([
        { median: 10, weight: 1 },
        { median: 20, weight: 5 },
        { median: 30, weight: 1 },
      ]),
    ).toBe(20);
  });
});

describe('FleetSummaryQuery', () => {
  it('reads a comma-separated groupBy', () => {
    expect(parseInput(FleetSummaryQuery, { groupBy: 'site,version' }, 'query').groupBy).toEqual([
      'site',
      'version',
    ]);
    expect(parseInput(FleetSummaryQuery, {}, 'query').groupBy).toEqual([]);
  });

  it.each([
    ['site,colour', /'colour'/],
    ['site,site', /twice/],
    ['health,connectionState', /cannot be combined/],
    ['', /''/],
  ])('refuses groupBy=%s with 400 naming groupBy', (groupBy, message) => {
    expect(() => parseInput(FleetSummaryQuery, { groupBy }, 'query')).toThrow(
      expect.objectContaining({
        issues: [expect.objectContaining({ field: 'groupBy', message: expect.stringMatching(message) })],
      }),
    );
  });

  it('refuses an unknown parameter', () => {
    expect(() => parseInput(FleetSummaryQuery, { group: 'site' }, 'query')).toThrow(/group/);
  });
});

describe('DeviceTelemetryQuery', () => {
  it('reads since as a date and defaults the limit', () => {
    const query = parseInput(DeviceTelemetryQuery, { since: '2026-11-02T10:00:00Z' }, 'query');
    expect(query.since?.toISOString()).toBe('2026-11-02T10:00:00.000Z');
    expect(query.limit).toBe(60);
  });

  it.each([
    ['since', { since: 'yesterday' }],
    ['limit', { limit: '501' }],
  ])('refuses a bad %s', (field, query) => {
    expect(() => parseInput(DeviceTelemetryQuery, query, 'query')).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ field })] }),
    );
  });
});

const window = (seq: number, start: number): TelemetryWindowV1 => ({
  seq,
  start,
  seconds: 60,
  firmwareVersion: '1.0.0',
  health: 'healthy',
  metrics: { 'cpu.percent': { count: 6, min: 1, max: 9, mean: 5, p95: 9, sum: 30 } },
});

describe('getDeviceTelemetry', () => {
  it('answers DeviceNotFoundError for an unknown device', async () => {
    const getTelemetry = makeGetDeviceTelemetry({
      fleetStore: new InMemoryFleetStore(),
      health: new InMemoryFleetHealthReader(),
    });
    await expect(getTelemetry({ deviceId: 'ghost', limit: 10 })).rejects.toBeInstanceOf(DeviceNotFoundError);
  });

  it("returns the device's windows since a time, newest first", async () => {
    const fleetStore = new InMemoryFleetStore();
    await fleetStore.createDevice(
      newDevice({ deviceId: 'gw', hardwareType: 'h', site: 's', region: 'r' }, new Date()),
    );
    await fleetStore.completeRegistration('gw', 'cert');
    const health = new InMemoryFleetHealthReader();
    health.windows.set('gw', [window(0, 1_000_000), window(1, 1_060_000), window(2, 1_120_000)]);

    const result = await makeGetDeviceTelemetry({ fleetStore, health })({
      deviceId: 'gw',
      since: new Date(1_060_000),
      limit: 10,
    });

    expect(result.windows.map((w) => w.seq)).toEqual([2, 1]);
  });
});

describe('DynamoDbFleetHealthReader', () => {
  it('reads windows newest first and stops at the first batch older than since', async () => {
    const batches = [0, 3, 6, 9].map((firstSeq) => ({
      pk: 'DEVICE#gw',
      sk: `TELEMETRY#${String(firstSeq).padStart(12, '0')}`,
      windows: [0, 1, 2].map((i) => window(firstSeq + i, (firstSeq + i) * 60_000)),
    }));
    const inputs: Record<string, unknown>[] = [];
    const client = {
      send: async ({ input }: { input: Record<string, unknown> }) => {
        inputs.push(input);
        const newestFirst = [...batches].reverse();
        const start = input.ExclusiveStartKey as { sk: string } | undefined;
        const rest = start ? newestFirst.filter((b) => b.sk < start.sk) : newestFirst;
        const page = rest.slice(0, Number(input.Limit));
        const last = page.at(-1);
        return {
          Items: page,
          ...(rest.length > page.length && last ? { LastEvaluatedKey: { pk: last.pk, sk: last.sk } } : {}),
        };
      },
    } as unknown as DynamoDBDocumentClient;

    const windows = await new DynamoDbFleetHealthReader(client, 'fleet').recentWindows(
      'gw',
      new Date(4 * 60_000),
      50,
    );

    expect(windows.map((w) => w.seq)).toEqual([11, 10, 9, 8, 7, 6, 5, 4]);
    expect(inputs[0]).toMatchObject({ ScanIndexForward: false });
    expect(inputs).toHaveLength(1);
  });

  it('reads a COHORTS item the analysis has not visited as labels only', () => {
    expect(
      cohortOf({ pk: 'COHORTS', sk: 'eu#a#h#1', region: 'eu', site: 'a', hardwareType: 'h', version: '1' }),
    ).toEqual({ cohort: 'eu#a#h#1', region: 'eu', site: 'a', hardwareType: 'h', version: '1' });
  });
});

describe('listAnomalies', () => {
  it('pages the flagged devices by device id', async () => {
    const health = new InMemoryFleetHealthReader();
    for (const id of ['c', 'a', 'b'])
      health.anomalies.set(id, {
        deviceId: id,
        metric: 'cpu.percent',
        score: 5,
        value: 90,
        cohortMedian: 20,
        cohort: 'x',
        since: '2026-11-02T00:00:00Z',
      });
    const list = makeListAnomalies({ health });

    const first = await list({ limit: 2 });
    const second = await list({ limit: 2, ...(first.nextCursor ? { cursor: first.nextCursor } : {}) });

    expect([...first.items, ...second.items].map((a) => a.deviceId)).toEqual(['a', 'b', 'c']);
    expect(second.nextCursor).toBeUndefined();
  });
});

describe('deviceView', () => {
  it('shows health, metrics and the anomaly when present, and null otherwise', () => {
    const device = {
      ...newDevice({ deviceId: 'gw', hardwareType: 'h', site: 's', region: 'r' }, new Date(0)),
      health: 'degraded' as const,
      healthAt: '2026-11-02T10:00:00.000Z',
      metrics: { 'cpu.percent': { p95: 9, mean: 5, max: 9, sum: 30 } },
      anomaly: {
        metric: 'cpu.percent',
        score: 6.1,
        value: 9,
        cohortMedian: 2,
        since: '2026-11-02T09:00:00Z',
      },
    };
    expect(deviceView(device)).toMatchObject({
      health: 'degraded',
      healthAt: '2026-11-02T10:00:00.000Z',
      metrics: { 'cpu.percent': { p95: 9 } },
      anomaly: { metric: 'cpu.percent', score: 6.1, cohortMedian: 2 },
    });
    expect(
      deviceView(newDevice({ deviceId: 'x', hardwareType: 'h', site: 's', region: 'r' }, new Date(0))),
    ).toMatchObject({ health: null, healthAt: null, metrics: null, anomaly: null });
  });
});
