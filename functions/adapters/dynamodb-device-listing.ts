import {
  BatchGetCommand,
  type DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Device } from '../domain/device';
import { type DeviceFilter, matchesDeviceFilter } from '../domain/device-filter';
import { cohortKey } from '../domain/telemetry';
import type { DevicePage, ListDevicesQuery } from '../ports/fleet-store';
import { ANOMALIES_PARTITION } from './fleet-partitions';
import { decodeCursor, encodeCursor } from './page-cursor';

type Item = Record<string, unknown>;
type Key = Record<string, string>;

/** Sparse index over device items by site (only device items carry `site` and `deviceId`). */
export const BY_SITE_INDEX = 'bySite';
/** Index over device items by cohort; projects the health attributes only (lib/fleet-store.ts). */
export const BY_COHORT_INDEX = 'byCohort';

/**
 * Items one request reads at most, across all its DynamoDB calls (at most MAX_CALLS Query or Scan
 * calls, each ≤ 1 MB, and for byCohort and ANOMALIES one BatchGetItem of ≤ 100 keys after each). A selective filter can then return a short page, even an empty one, with a
 * cursor: the client follows `nextCursor`. This keeps a request's cost and latency independent
 * of the fleet size.
 */
export const MAX_ITEMS_READ = 1000;
const MAX_CALLS = 6;
/** DynamoDB BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;

/**
 * Which read serves a query, most selective first:
 * - `anomalies`: the ANOMALIES partition (small: only flagged devices), then their device items;
 * - `cohort`: all four cohort labels given, the byCohort index, exact;
 * - `site`: the bySite index, one site's devices;
 * - `scan`: a Scan of the sparse bySite index, which holds device items only (not the telemetry,
 *   alert and rollout items of the table).
 * Every other filter is applied to what the read returns.
 */
export type DeviceListingPlan =
  | { readonly index: 'anomalies' }
  | { readonly index: 'cohort'; readonly cohort: string }
  | { readonly index: 'site'; readonly site: string }
  | { readonly index: 'scan' };

export function planDeviceListing(filter: DeviceFilter): DeviceListingPlan {
  if (filter.anomalous) return { index: 'anomalies' };
  const { region, site, hardwareType, version } = filter;
  if (region !== undefined && site !== undefined && hardwareType !== undefined && version !== undefined)
    return { index: 'cohort', cohort: cohortKey({ region, site, hardwareType, version }) };
  if (site !== undefined) return { index: 'site', site };
  return { index: 'scan' };
}

interface Narrowing {
  readonly FilterExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues: Record<string, unknown>;
}

/**
 * The FilterExpression that narrows a Query or Scan of `plan`'s index before the items come back.
 * It only narrows (a superset of the matches): `matchesDeviceFilter` decides. On byCohort it can
 * only use the attributes that index projects.
 */
export function narrowingFilter(plan: DeviceListingPlan, filter: DeviceFilter): Narrowing | undefined {
  const terms: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const equals = (attribute: string, value: string) => {
    names[`#${attribute}`] = attribute;
    values[`:${attribute}`] = value;
    terms.push(`#${attribute} = :${attribute}`);
  };
  if (plan.index !== 'cohort') {
    names['#entity'] = 'entity';
    names['#status'] = 'status';
    values[':device'] = 'device';
    values[':registered'] = 'registered';
    terms.push('#entity = :device', '#status = :registered');
    if (filter.region !== undefined) equals('region', filter.region);
    if (filter.hardwareType !== undefined) equals('hardwareType', filter.hardwareType);
    if (filter.version !== undefined) {
      // The cohort's version is one of these two (ingestion sets it from either).
      names['#firmwareVersion'] = 'firmwareVersion';
      names['#telemetryVersion'] = 'telemetryVersion';
      values[':version'] = filter.version;
      terms.push('(#firmwareVersion = :version OR #telemetryVersion = :version)');
    }
  }
  if (filter.connectionState !== undefined) {
    names['#connectionState'] = 'connectionState';
    values[':connectionState'] = filter.connectionState;
    terms.push(
      filter.connectionState === 'unknown'
        ? '(attribute_not_exists(#connectionState) OR #connectionState = :connectionState)'
        : '#connectionState = :connectionState',
    );
  }
  if (filter.health !== undefined) {
    names['#health'] = 'health';
    if (filter.health === 'unknown') terms.push('attribute_not_exists(#health)');
    else {
      values[':health'] = filter.health;
      terms.push('#health = :health');
    }
  }
  if (terms.length === 0) return undefined;
  return {
    FilterExpression: terms.join(' AND '),
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  } as Narrowing;
}

/** Key attributes of an item in each read, i.e. the shape of its LastEvaluatedKey. */
const KEY_NAMES: Record<DeviceListingPlan['index'], readonly string[]> = {
  anomalies: ['pk', 'sk'],
  cohort: ['cohort', 'deviceId', 'pk', 'sk'],
  site: ['site', 'deviceId', 'pk', 'sk'],
  scan: ['site', 'deviceId', 'pk', 'sk'],
};
/** The cursor names the read it came from, so it cannot resume a different one. */
const READ_MARK = '@read';

function cursorFor(plan: DeviceListingPlan, key: Item): string {
  return encodeCursor({ [READ_MARK]: plan.index, ...key });
}

/** A cursor this listing issued for this very read (same index, same site or cohort), as a start key. */
function startKeyFrom(plan: DeviceListingPlan, cursor: string): Key {
  const expected = new Set([READ_MARK, ...KEY_NAMES[plan.index]]);
  const decoded = decodeCursor<Key>(cursor, (key) => {
    const entries = Object.entries(key);
    if (entries.length !== expected.size) return false;
    if (!entries.every(([k, v]) => expected.has(k) && typeof v === 'string')) return false;
    if (key[READ_MARK] !== plan.index) return false;
    if (plan.index === 'anomalies') return key.pk === ANOMALIES_PARTITION;
    if (!String(key.pk).startsWith('DEVICE#')) return false;
    if (plan.index === 'site') return key.site === plan.site;
    if (plan.index === 'cohort') return key.cohort === plan.cohort;
    return true;
  });
  const { [READ_MARK]: _read, ...key } = decoded;
  return key;
}

const keyOf = (plan: DeviceListingPlan, item: Item): Key =>
  Object.fromEntries(KEY_NAMES[plan.index].map((name) => [name, String(item[name])]));

interface RawPage {
  readonly items: Item[];
  readonly lastKey?: Key;
  readonly itemsRead: number;
}

/**
 * `listDevices` of DynamoDbFleetStore: picks the read (`planDeviceListing`), reads at most
 * MAX_ITEMS_READ items, and returns the matches with a cursor tied to that read.
 */
export class DynamoDbDeviceListing {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly toDevice: (item: Item) => Device,
  ) {}

  async list(query: ListDevicesQuery): Promise<DevicePage> {
    const plan = planDeviceListing(query);
    const startKey = query.cursor === undefined ? undefined : startKeyFrom(plan, query.cursor);
    const { cursor: _c, limit, ...filter } = query;
    const found: { key: Key; device: Device }[] = [];
    let lastKey = startKey;
    let itemsRead = 0;
    let calls = 0;
    // Start with one page's worth; read more per call while the filter keeps few. Reads that
    // fetch their devices next take at most one BatchGetItem's worth per call.
    const perCall = plan.index === 'anomalies' || plan.index === 'cohort' ? BATCH_GET_KEYS : MAX_ITEMS_READ;
    let batch = Math.min(limit, perCall);
    do {
      const budget = Math.min(batch, MAX_ITEMS_READ - itemsRead);
      const page = await this.readPage(plan, filter, lastKey, budget);
      found.push(...(await this.matching(plan, filter, page.items)));
      lastKey = page.lastKey;
      itemsRead += page.itemsRead;
      calls++;
      batch = Math.min(batch * 2, perCall);
    } while (
      lastKey !== undefined &&
      found.length < limit &&
      itemsRead < MAX_ITEMS_READ &&
      calls < MAX_CALLS
    );

    if (found.length > limit) {
      // This call read past the page: resume right after the last device returned.
      const page = found.slice(0, limit);
      const last = page.at(-1);
      return { items: page.map((f) => f.device), ...(last ? { nextCursor: cursorFor(plan, last.key) } : {}) };
    }
    return {
      items: found.map((f) => f.device),
      ...(lastKey !== undefined ? { nextCursor: cursorFor(plan, lastKey) } : {}),
    };
  }

  private async readPage(
    plan: DeviceListingPlan,
    filter: DeviceFilter,
    startKey: Key | undefined,
    limit: number,
  ): Promise<RawPage> {
    const narrowing = plan.index === 'anomalies' ? undefined : narrowingFilter(plan, filter);
    const common = { TableName: this.tableName, Limit: limit, ExclusiveStartKey: startKey };
    const withKey = (
      input: Pick<QueryCommandInput, 'IndexName' | 'KeyConditionExpression' | 'ConsistentRead'>,
      names: Record<string, string>,
      values: Record<string, unknown>,
    ) =>
      new QueryCommand({
        ...common,
        ...input,
        ...(narrowing ? { FilterExpression: narrowing.FilterExpression } : {}),
        ExpressionAttributeNames: { ...narrowing?.ExpressionAttributeNames, ...names },
        ExpressionAttributeValues: { ...narrowing?.ExpressionAttributeValues, ...values },
      });
    const command =
      plan.index === 'anomalies'
        ? withKey({ KeyConditionExpression: '#pk = :pk' }, { '#pk': 'pk' }, { ':pk': ANOMALIES_PARTITION })
        : plan.index === 'cohort'
          ? withKey(
              { IndexName: BY_COHORT_INDEX, KeyConditionExpression: '#cohort = :cohort' },
              { '#cohort': 'cohort' },
              { ':cohort': plan.cohort },
            )
          : plan.index === 'site'
            ? withKey(
                { IndexName: BY_SITE_INDEX, KeyConditionExpression: '#siteKey = :siteKey' },
                { '#siteKey': 'site' },
                { ':siteKey': plan.site },
              )
            : new ScanCommand({ ...common, IndexName: BY_SITE_INDEX, ...narrowing });
    const page = await this.client.send(command as QueryCommand);
    const items = page.Items ?? [];
    return {
      items,
      itemsRead: page.ScannedCount ?? items.length,
      ...(page.LastEvaluatedKey ? { lastKey: page.LastEvaluatedKey as Key } : {}),
    };
  }

  /** The devices of one raw page that match, in page order, with the key to resume after each. */
  private async matching(
    plan: DeviceListingPlan,
    filter: DeviceFilter,
    items: Item[],
  ): Promise<{ key: Key; device: Device }[]> {
    if (plan.index === 'site' || plan.index === 'scan') {
      return items
        .map((item) => ({ key: keyOf(plan, item), device: this.toDevice(item) }))
        .filter((f) => matchesDeviceFilter(f.device, filter));
    }
    // byCohort projects only the health attributes, and ANOMALIES holds no device attributes:
    // fetch the device items themselves (bounded: one page of keys), each once: BatchGetItem
    // refuses repeated keys, and any other item carrying a device's index keys would repeat it.
    const deviceIds = items.map((item) => String(plan.index === 'anomalies' ? item.sk : item.deviceId));
    const devices = await this.getDevices([...new Set(deviceIds)]);
    const seen = new Set<string>();
    return items.flatMap((item, i) => {
      const deviceId = deviceIds[i] ?? '';
      const stored = devices.get(deviceId);
      if (!stored || seen.has(deviceId)) return [];
      seen.add(deviceId);
      const { anomalous: _a, ...rest } = filter;
      const device =
        plan.index === 'anomalies' && stored.anomaly === undefined
          ? { ...stored, anomaly: anomalyOf(item) }
          : stored;
      return matchesDeviceFilter(device, plan.index === 'anomalies' ? rest : filter)
        ? [{ key: keyOf(plan, item), device }]
        : [];
    });
  }

  /** Device items by id, through BatchGetItem (retrying what DynamoDB leaves unprocessed). */
  private async getDevices(deviceIds: readonly string[]): Promise<Map<string, Device>> {
    const devices = new Map<string, Device>();
    for (let i = 0; i < deviceIds.length; i += BATCH_GET_KEYS) {
      let keys: Item[] | undefined = deviceIds
        .slice(i, i + BATCH_GET_KEYS)
        .map((id) => ({ pk: `DEVICE#${id}`, sk: 'DEVICE' }));
      for (let attempt = 0; keys && keys.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
        if (attempt > 5) throw new Error('BatchGetItem left keys unprocessed after 6 attempts');
        const result = await this.client.send(
          new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: keys } } }),
        );
        for (const item of result.Responses?.[this.tableName] ?? []) {
          const device = this.toDevice(item);
          devices.set(device.deviceId, device);
        }
        keys = result.UnprocessedKeys?.[this.tableName]?.Keys as Item[] | undefined;
      }
    }
    return devices;
  }
}

function anomalyOf(entry: Item): Device['anomaly'] {
  return {
    metric: String(entry.metric),
    score: Number(entry.score),
    ...(typeof entry.value === 'number' ? { value: entry.value } : {}),
    ...(typeof entry.cohortMedian === 'number' ? { cohortMedian: entry.cohortMedian } : {}),
    ...(typeof entry.since === 'string' ? { since: entry.since } : {}),
  };
}
