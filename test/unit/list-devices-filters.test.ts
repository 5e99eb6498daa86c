import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  DynamoDbDeviceListing,
  MAX_ITEMS_READ,
  narrowingFilter,
  planDeviceListing,
} from '../../functions/adapters/dynamodb-device-listing';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import type { Device } from '../../functions/domain/device';
import { deviceVersion, matchesDeviceFilter } from '../../functions/domain/device-filter';
import { ValidationError } from '../../functions/domain/errors';
import { cohortKey } from '../../functions/domain/telemetry';
import { ListDevicesQuery } from '../../functions/operator-api/schemas';
import { parseInput } from '../../functions/shared/parse';

const device = (id: string, over: Partial<Device> = {}): Device => ({
  deviceId: id,
  hardwareType: 'rpi4',
  site: 'plant-a',
  region: 'eu',
  status: 'registered',
  registeredAt: '2026-11-01T00:00:00Z',
  connection: { state: 'connected', changedAt: '2026-11-01T00:00:00Z' },
  ...over,
});

describe('planDeviceListing: filters → the read', () => {
  it.each([
    [{ anomalous: true as const, site: 's' }, 'anomalies'],
    [{ region: 'eu', site: 's', hardwareType: 'h', version: '1.0.0' }, 'cohort'],
    [{ region: 'eu', site: 's', hardwareType: 'h' }, 'site'],
    [{ site: 's', health: 'degraded' as const }, 'site'],
    [{ region: 'eu', hardwareType: 'h', version: '1.0.0' }, 'scan'],
    [{}, 'scan'],
  ])('%j reads %s', (filter, index) => {
    expect(planDeviceListing(filter).index).toBe(index);
  });

  it('queries byCohort with the cohort key ingestion writes (escaped labels)', () => {
    const filter = { region: 'eu', site: 'a#b', hardwareType: 'h', version: '1.0.0' };
    expect(planDeviceListing(filter)).toEqual({ index: 'cohort', cohort: cohortKey(filter) });
    expect(cohortKey(filter)).toBe('eu#a%23b#h#1.0.0');
  });
});

describe('narrowingFilter', () => {
  it('keeps to device items and puts the remaining filters into the expression', () => {
    const narrowing = narrowingFilter(
      { index: 'site', site: 's' },
      { site: 's', region: 'eu', health: 'unknown', connectionState: 'unknown' },
    );
    expect(narrowing?.FilterExpression).toBe(
      '#entity = :device AND #status = :registered AND #region = :region AND ' +
        '(attribute_not_exists(#connectionState) OR #connectionState = :connectionState) AND attribute_not_exists(#health)',
    );
    expect(narrowing?.ExpressionAttributeValues).toEqual({
      ':device': 'device',
      ':registered': 'registered',
      ':region': 'eu',
      ':connectionState': 'unknown',
    });
  });

  it('uses only the projected attributes on byCohort', () => {
    const narrowing = narrowingFilter(
      { index: 'cohort', cohort: 'c' },
      { region: 'eu', site: 's', hardwareType: 'h', version: '1', health: 'degraded' },
    );
    expect(narrowing?.FilterExpression).toBe('#health = :health');
    expect(narrowingFilter({ index: 'cohort', cohort: 'c' }, {})).toBeUndefined();
  });
});

describe('matchesDeviceFilter', () => {
  it('matches the cohort version, which the latest telemetry sets before any shadow report', () => {
    const d = device('a', {
      firmwareVersion: '1.0.0',
      cohort: cohortKey({ ...device('a'), version: '1.1.0' }),
    });
    expect(deviceVersion(d)).toBe('1.1.0');
    expect(matchesDeviceFilter(d, { version: '1.1.0' })).toBe(true);
    expect(matchesDeviceFilter(d, { version: '1.0.0' })).toBe(false);
  });

  it.each([
    [{ health: 'unknown' as const }, device('a'), true],
    [{ health: 'unknown' as const }, device('a', { health: 'healthy' }), false],
    [{ connectionState: 'disconnected' as const }, device('a'), false],
    [{ anomalous: true as const }, device('a', { anomaly: { metric: 'cpu.percent', score: 9 } }), true],
    [{ anomalous: true as const }, device('a'), false],
    [{ site: 'plant-a' }, device('a', { status: 'provisioning' }), false],
  ])('%j on a device → %s', (filter, d, expected) => {
    expect(matchesDeviceFilter(d, filter)).toBe(expected);
  });
});

describe('ListDevicesQuery', () => {
  it.each([
    ['health', { health: 'sick' }],
    ['connectionState', { connectionState: 'online' }],
    ['anomalous', { anomalous: 'false' }],
    ['region', { region: 'eu west' }],
    ['version', { version: '1.0 beta' }],
    ['limit', { limit: '101' }],
    ['hardwareType', { hardwareType: '' }],
  ])('refuses a bad %s, naming it', (field, query) => {
    expect(() => parseInput(ListDevicesQuery, query, 'query')).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ field })] }),
    );
  });

  it('refuses an unknown parameter, naming it in the message', () => {
    expect(() => parseInput(ListDevicesQuery, { helth: 'healthy' }, 'query')).toThrow(/helth/);
  });

  it('reads anomalous=true as true', () => {
    expect(parseInput(ListDevicesQuery, { anomalous: 'true' }, 'query').anomalous).toBe(true);
  });
});

/**
 * A DynamoDB stand-in that serves Scan/Query pages of one sorted item list the way DynamoDB
 * does: at most `Limit` items evaluated after `ExclusiveStartKey`, LastEvaluatedKey when it
 * stopped early. It ignores FilterExpression (the listing re-checks every item anyway).
 */
function fakeTable(items: Record<string, unknown>[]) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const keyOrder = (item: Record<string, unknown>) => `${item.site ?? item.pk}|${item.deviceId ?? item.sk}`;
  const sorted = [...items].sort((a, b) => keyOrder(a).localeCompare(keyOrder(b)));
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const { input } = command;
      calls.push({ name: command.constructor.name, input });
      if (command.constructor.name === 'BatchGetCommand') {
        const request = (input.RequestItems as Record<string, { Keys: { pk: string }[] }>).fleet;
        const wanted = new Set(request?.Keys.map((k) => k.pk));
        return { Responses: { fleet: sorted.filter((i) => wanted.has(String(i.pk))) } };
      }
      const start = input.ExclusiveStartKey as Record<string, unknown> | undefined;
      const partition = sorted.filter((i) =>
        input.IndexName === 'bySite' && input.KeyConditionExpression
          ? i.site === (input.ExpressionAttributeValues as Record<string, unknown>)[':siteKey']
          : true,
      );
      const from = start ? partition.findIndex((i) => keyOrder(i) > keyOrder(start)) : 0;
      const rest = from < 0 ? [] : partition.slice(from);
      const page = rest.slice(0, Number(input.Limit));
      const last = page.at(-1);
      return {
        Items: page,
        ScannedCount: page.length,
        ...(rest.length > page.length && last
          ? { LastEvaluatedKey: { site: last.site, deviceId: last.deviceId, pk: last.pk, sk: last.sk } }
          : {}),
      };
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient, calls };
}

const item = (i: number, over: Record<string, unknown> = {}) => ({
  pk: `DEVICE#d${String(i).padStart(5, '0')}`,
  sk: 'DEVICE',
  entity: 'device',
  status: 'registered',
  deviceId: `d${String(i).padStart(5, '0')}`,
  site: 'plant-a',
  region: 'eu',
  hardwareType: 'rpi4',
  registeredAt: '2026-11-01T00:00:00Z',
  connectionState: 'connected',
  ...over,
});

const toDevice = (i: Record<string, unknown>) => {
  const { connectionState, ...rest } = i;
  return {
    ...(rest as unknown as Device),
    connection: { state: connectionState as Device['connection']['state'] },
  };
};

async function listAll(listing: DynamoDbDeviceListing, query: Parameters<DynamoDbDeviceListing['list']>[0]) {
  const seen: string[] = [];
  const pageSizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await listing.list({ ...query, ...(cursor ? { cursor } : {}) });
    seen.push(...page.items.map((d) => d.deviceId));
    pageSizes.push(page.items.length);
    cursor = page.nextCursor;
  } while (cursor);
  return { seen, pageSizes };
}

describe('DynamoDbDeviceListing', () => {
  it('returns every match exactly once across pages, though pages read past the page size', async () => {
    const items = Array.from({ length: 60 }, (_, i) => item(i, i % 2 === 0 ? { health: 'degraded' } : {}));
    const { client } = fakeTable(items);
    const listing = new DynamoDbDeviceListing(client, 'fleet', toDevice);

    const { seen, pageSizes } = await listAll(listing, { limit: 7, health: 'degraded' });

    expect(seen).toEqual(items.filter((_, i) => i % 2 === 0).map((d) => d.deviceId));
    expect(Math.max(...pageSizes)).toBeLessThanOrEqual(7);
  });

  it('stops after MAX_ITEMS_READ items read, returning a short page and a cursor', async () => {
    const items = Array.from({ length: MAX_ITEMS_READ + 200 }, (_, i) =>
      item(i, i === MAX_ITEMS_READ + 100 ? { health: 'unhealthy' } : {}),
    );
    const { client, calls } = fakeTable(items);
    const listing = new DynamoDbDeviceListing(client, 'fleet', toDevice);

    const first = await listing.list({ limit: 25, health: 'unhealthy' });

    expect(first.items).toEqual([]);
    expect(first.nextCursor).toBeDefined();
    const read = calls.reduce((n, c) => n + Number(c.input.Limit), 0);
    expect(read).toBeLessThanOrEqual(MAX_ITEMS_READ);
    const second = await listing.list({ limit: 25, health: 'unhealthy', cursor: first.nextCursor });
    expect(second.items.map((d) => d.deviceId)).toEqual([items[MAX_ITEMS_READ + 100]?.deviceId]);
  });

  it('Scans the sparse bySite index (device items only) when no index fits', async () => {
    const { client, calls } = fakeTable([item(1)]);
    await new DynamoDbDeviceListing(client, 'fleet', toDevice).list({ limit: 5, region: 'eu' });
    expect(calls[0]).toMatchObject({ name: 'ScanCommand', input: { IndexName: 'bySite' } });
  });

  it('refuses a cursor issued for another read, naming cursor', async () => {
    const { client } = fakeTable(Array.from({ length: 10 }, (_, i) => item(i)));
    const listing = new DynamoDbDeviceListing(client, 'fleet', toDevice);
    const scanCursor = (await listing.list({ limit: 2 })).nextCursor;

    await expect(listing.list({ limit: 2, site: 'plant-a', cursor: scanCursor })).rejects.toBeInstanceOf(
      ValidationError,
    );
    const siteCursor = (await listing.list({ limit: 2, site: 'plant-a' })).nextCursor;
    await expect(listing.list({ limit: 2, site: 'plant-b', cursor: siteCursor })).rejects.toMatchObject({
      issues: [{ field: 'cursor' }],
    });
  });

  it('lists flagged devices from the ANOMALIES partition, with the entry as the anomaly', async () => {
    const entries = [2, 5].map((i) => ({
      pk: 'ANOMALIES',
      sk: `d0000${i}`,
      deviceId: `d0000${i}`,
      metric: 'memory.used_mib',
      score: 7.5,
      value: 900,
      cohortMedian: 400,
      since: '2026-11-02T00:00:00Z',
    }));
    const { client, calls } = fakeTable([...entries, ...[1, 2, 3, 5].map((i) => item(i))]);
    const page = await new DynamoDbDeviceListing(client, 'fleet', toDevice).list({
      limit: 10,
      anomalous: true,
    });
    expect(calls.map((c) => c.name)).toEqual(['QueryCommand', 'BatchGetCommand']);
    expect(page.items.map((d) => [d.deviceId, d.anomaly?.score])).toEqual([
      ['d00002', 7.5],
      ['d00005', 7.5],
    ]);
  });
});

describe('InMemoryFleetStore.listDevices', () => {
  it('applies every filter', async () => {
    const store = new InMemoryFleetStore();
    for (const d of [
      device('a', { health: 'healthy' }),
      device('b', { health: 'degraded', region: 'us' }),
      device('c', { health: 'degraded' }),
    ])
      await store.createDevice(d);

    const page = await store.listDevices({ limit: 10, region: 'eu', health: 'degraded' });

    expect(page.items.map((d) => d.deviceId)).toEqual(['c']);
  });
});
