import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { OtaEventV1 } from '../../contract/ota';
import { RolloutNotFoundError, RolloutStateError } from '../domain/errors';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type DeviceExecution,
  type FailedSample,
  type JobExecutionStatus,
  type Rollout,
  type RolloutStatus,
} from '../domain/rollout';
import { executionExpiresAt } from '../domain/rollout-retention';
import {
  bucketOf,
  COUNTER_NAMES,
  type CounterName,
  counterDelta,
  emptyCounts,
  type WaveCounts,
  withJobStatus,
  withOtaEvent,
} from '../domain/wave-counters';
import type { ExecutionFilter, ExecutionPage, RolloutPage, RolloutStore } from '../ports/rollout-store';
import { queryPartition } from './dynamodb-query';
import { decodeCursor, encodeCursor } from './page-cursor';

/** The sparse index of failed executions (lib/fleet-store.ts). */
export const FAILED_BY_WAVE_INDEX = 'failedByWave';
/** Device claims are written this many at a time. */
const CLAIM_CONCURRENCY = 16;
/** Tries of an event against concurrent writes to the same execution before giving up (SQS retries it). */
const MAX_WRITE_ATTEMPTS = 5;

/**
 * RolloutStore on the fleet table:
 * - rollout: pk `ROLLOUT#<id>`, sk `ROLLOUT` (waves inline; ≤ 10 of them);
 * - wave counters: pk `ROLLOUT#<id>`, sk `WAVE#<wave, 3 digits>`, one number per funnel bucket and
 *   for the bytes sent and saved (domain/wave-counters.ts);
 * - execution: pk `ROLLOUT#<id>`, sk `EXEC#<wave, 3 digits>#<deviceId>`, so a wave is one Query.
 *   Its `bucket` is where it counts; `rev` orders writes to it; `failedKey` (rollout + wave) is set
 *   while it counts as failed, for the sparse failedByWave index. Its site is stored as
 *   `deviceSite`, so executions stay out of the devices' bySite index;
 * - claim: `activeRolloutId` on the device item, set at start. It counts only while that rollout is
 *   active, so nothing needs to be removed when the rollout ends. Two starts racing for the same
 *   device would both claim it, the later one winning.
 *
 * An execution changes together with its wave's counters in one transaction, conditional on the
 * execution's `rev` as read: concurrent events for one device retry, and a repeated event is
 * stale by seq, so the counters never count twice.
 */
export class DynamoDbRolloutStore implements RolloutStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createRollout(rollout: Rollout, counts: readonly WaveCounts[]): Promise<void> {
    await this.#batchPut(
      rollout.waves.map((w) => ({
        ...waveKey(rollout.rolloutId, w.index),
        entity: 'wave-counters',
        ...(counts[w.index] ?? emptyCounts()),
      })),
    );
    // The listing entry goes with the rollout, in one transaction: never one without the other.
    await this.client.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: this.tableName,
              Item: { ...rolloutKey(rollout.rolloutId), entity: 'rollout', ...rollout },
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
          {
            Put: {
              TableName: this.tableName,
              Item: {
                ...listingKey(rollout),
                entity: 'rollout-listing',
                rolloutId: rollout.rolloutId,
                createdAt: rollout.createdAt,
              },
            },
          },
        ],
      }),
    );
  }

  async addExecutions(rolloutId: string, executions: readonly DeviceExecution[]): Promise<void> {
    // Written once, now: executions expire a fixed time after the rollout started, which is
    // longer than any run lasts (domain/rollout-retention.ts), so ending a rollout writes nothing
    // per device. Every later write of an execution carries the item's attributes over.
    const expiresAt = executionExpiresAt(new Date().toISOString());
    await this.#batchPut(executions.map((e) => ({ ...toExecutionItem(e, 0), expiresAt })));
    const queue = [...executions];
    const gone: DeviceExecution[] = [];
    const claim = async () => {
      for (let e = queue.shift(); e !== undefined; e = queue.shift()) {
        const claimed = await this.#conditionalUpdate({
          Key: deviceKey(e.deviceId),
          UpdateExpression: 'SET activeRolloutId = :rollout',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeValues: { ':rollout': rolloutId },
        });
        if (!claimed) gone.push(e);
      }
    };
    await Promise.all(Array.from({ length: CLAIM_CONCURRENCY }, claim));
    for (const e of gone) {
      await this.#change(rolloutId, e.waveIndex, e.deviceId, (current) =>
        current.stage === 'failed'
          ? undefined
          : { ...current, stage: 'failed', reason: 'device not registered' },
      );
    }
  }

  async getRollout(rolloutId: string): Promise<Rollout | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: rolloutKey(rolloutId), ConsistentRead: true }),
    );
    return Item ? stripKeys<Rollout>(Item) : undefined;
  }

  async listRollouts(limit: number, cursor?: string): Promise<RolloutPage> {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :listing',
        ExpressionAttributeValues: { ':listing': LISTING_PK },
        ScanIndexForward: false,
        Limit: limit,
        ExclusiveStartKey:
          cursor === undefined ? undefined : decodeCursor<Record<string, string>>(cursor, isListingCursor),
      }),
    );
    const ids = Items.map((i) => String(i.rolloutId));
    const byId = new Map<string, Rollout>();
    for (let i = 0; i < ids.length; i += 100) {
      let request: Record<string, { Keys: Record<string, string>[]; ConsistentRead: boolean }> | undefined = {
        [this.tableName]: { Keys: ids.slice(i, i + 100).map(rolloutKey), ConsistentRead: true },
      };
      while (request && Object.keys(request).length > 0) {
        const page = await this.client.send(new BatchGetCommand({ RequestItems: request }));
        for (const item of page.Responses?.[this.tableName] ?? []) {
          const rollout = stripKeys<Rollout>(item);
          byId.set(rollout.rolloutId, rollout);
        }
        request = page.UnprocessedKeys as typeof request;
      }
    }
    const items = ids.flatMap((id) => byId.get(id) ?? []);
    return LastEvaluatedKey === undefined
      ? { items }
      : { items, nextCursor: encodeCursor(LastEvaluatedKey as Record<string, string>) };
  }

  async transition(
    rolloutId: string,
    from: readonly RolloutStatus[],
    change: Partial<Rollout>,
  ): Promise<Rollout> {
    const entries = Object.entries(change).filter(([, v]) => v !== undefined);
    const names: Record<string, string> = { '#status': 'status' };
    const values: Record<string, unknown> = {};
    from.forEach((s, i) => {
      values[`:from${i}`] = s;
    });
    const sets = entries.map(([k, v], i) => {
      names[`#f${i}`] = k;
      values[`:v${i}`] = v;
      return `#f${i} = :v${i}`;
    });
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: rolloutKey(rolloutId),
          UpdateExpression: `SET ${sets.length > 0 ? sets.join(', ') : '#status = #status'}`,
          ConditionExpression: `attribute_exists(pk) AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: Object.keys(values).length > 0 ? values : undefined,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return stripKeys<Rollout>(Attributes ?? {});
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const current = await this.getRollout(rolloutId);
      if (!current) throw new RolloutNotFoundError(rolloutId);
      throw new RolloutStateError(`Rollout ${rolloutId} is ${current.status}, not ${from.join(' or ')}`);
    }
  }

  async setTaskToken(rolloutId: string, token: string | undefined): Promise<void> {
    await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: rolloutKey(rolloutId),
        UpdateExpression: token === undefined ? 'REMOVE taskToken' : 'SET taskToken = :token',
        ...(token === undefined ? {} : { ExpressionAttributeValues: { ':token': token } }),
      }),
    );
  }

  async getTaskToken(rolloutId: string): Promise<string | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: rolloutKey(rolloutId),
        ProjectionExpression: 'taskToken',
        ConsistentRead: true,
      }),
    );
    return typeof Item?.taskToken === 'string' ? Item.taskToken : undefined;
  }

  async listExecutions(rolloutId: string, waveIndex?: number): Promise<DeviceExecution[]> {
    const prefix = waveIndex === undefined ? 'EXEC#' : `EXEC#${pad(waveIndex)}#`;
    const items = await queryPartition(this.client, this.tableName, `ROLLOUT#${rolloutId}`, prefix);
    return items.map(fromExecutionItem);
  }

  async pageExecutions(
    rolloutId: string,
    options: {
      waveIndex?: number;
      filters?: readonly ExecutionFilter[];
      limit: number;
      cursor?: string;
    },
  ): Promise<ExecutionPage> {
    const pk = `ROLLOUT#${rolloutId}`;
    const prefix = options.waveIndex === undefined ? 'EXEC#' : `EXEC#${pad(options.waveIndex)}#`;
    const values: Record<string, unknown> = { ':pk': pk, ':prefix': prefix };
    const clauses = (options.filters ?? []).map((f, i) => {
      const waves = f.waveIndexes.map((w, j) => {
        values[`:w${i}_${j}`] = w;
        return `:w${i}_${j}`;
      });
      const buckets = f.buckets.map((b, j) => {
        values[`:b${i}_${j}`] = b;
        return `:b${i}_${j}`;
      });
      if (waves.length === 0 || buckets.length === 0) return 'attribute_not_exists(pk)';
      return `(waveIndex IN (${waves.join(', ')}) AND #bucket IN (${buckets.join(', ')}))`;
    });
    const isIssued = (key: Record<string, unknown>) =>
      isTableCursor(key) && key.pk === pk && String(key.sk).startsWith(prefix);
    let startKey =
      options.cursor === undefined
        ? undefined
        : decodeCursor<Record<string, string>>(options.cursor, isIssued);
    // A filtered page can come back short; keep reading until it is full or the wave ends.
    const items: DeviceExecution[] = [];
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ...(clauses.length > 0
            ? { FilterExpression: clauses.join(' OR '), ExpressionAttributeNames: { '#bucket': 'bucket' } }
            : {}),
          ExpressionAttributeValues: values,
          Limit: options.limit - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []).map(fromExecutionItem));
      startKey = page.LastEvaluatedKey as Record<string, string> | undefined;
    } while (startKey !== undefined && items.length < options.limit);
    return startKey === undefined ? { items } : { items, nextCursor: encodeCursor(startKey) };
  }

  async waveCounts(rolloutId: string): Promise<WaveCounts[]> {
    const items = await queryPartition(this.client, this.tableName, `ROLLOUT#${rolloutId}`, 'WAVE#');
    const counts: WaveCounts[] = [];
    for (const item of items) {
      const index = Number(String(item.sk).slice('WAVE#'.length));
      counts[index] = Object.fromEntries(
        COUNTER_NAMES.map((n) => [n, typeof item[n] === 'number' ? item[n] : 0]),
      ) as WaveCounts;
    }
    return counts;
  }

  async failedSample(rolloutId: string, waveIndex: number, limit: number): Promise<FailedSample> {
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: FAILED_BY_WAVE_INDEX,
        KeyConditionExpression: 'failedKey = :key',
        ExpressionAttributeValues: { ':key': failedKeyOf(rolloutId, waveIndex) },
        Limit: limit,
      }),
    );
    return Items.map((i) => ({
      deviceId: String(i.deviceId),
      reason: String(i.reason ?? i.jobStatus ?? i.stage ?? 'failed'),
    }));
  }

  applyOtaEvent(event: OtaEventV1, waveIndex: number): Promise<boolean> {
    return this.#change(event.rolloutId, waveIndex, event.deviceId, (e) => withOtaEvent(e, event));
  }

  applyJobExecutionStatus(
    rolloutId: string,
    waveIndex: number,
    deviceId: string,
    status: JobExecutionStatus,
  ): Promise<boolean> {
    return this.#change(rolloutId, waveIndex, deviceId, (e) => withJobStatus(e, status));
  }

  async activeClaims(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const holders = new Map<string, string>();
    const batches: string[][] = [];
    for (let i = 0; i < deviceIds.length; i += 100) batches.push(deviceIds.slice(i, i + 100));
    const read = async () => {
      for (let ids = batches.shift(); ids !== undefined; ids = batches.shift()) {
        let request:
          | Record<string, { Keys: Record<string, string>[]; ProjectionExpression: string }>
          | undefined = {
          [this.tableName]: { Keys: ids.map(deviceKey), ProjectionExpression: 'deviceId, activeRolloutId' },
        };
        while (request && Object.keys(request).length > 0) {
          const page = await this.client.send(new BatchGetCommand({ RequestItems: request }));
          for (const item of page.Responses?.[this.tableName] ?? []) {
            if (typeof item.activeRolloutId === 'string')
              holders.set(String(item.deviceId), item.activeRolloutId);
          }
          request = page.UnprocessedKeys as typeof request;
        }
      }
    };
    await Promise.all(Array.from({ length: CLAIM_CONCURRENCY }, read));
    // A claim counts only while its rollout is active.
    const active = new Map<string, boolean>();
    for (const rolloutId of new Set(holders.values())) {
      const rollout = await this.getRollout(rolloutId);
      active.set(rolloutId, rollout !== undefined && ACTIVE_ROLLOUT_STATUSES.includes(rollout.status));
    }
    return new Map([...holders].filter(([, rolloutId]) => active.get(rolloutId)));
  }

  /**
   * Reads an execution, asks `change` what it becomes, and writes it with its wave's counter
   * changes in one transaction conditional on the `rev` it read. Returns false if `change` says
   * nothing changes (or the execution does not exist).
   */
  async #change(
    rolloutId: string,
    waveIndex: number,
    deviceId: string,
    change: (execution: DeviceExecution) => DeviceExecution | undefined,
  ): Promise<boolean> {
    const key = executionKey(rolloutId, waveIndex, deviceId);
    for (let attempt = 1; ; attempt++) {
      const { Item } = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
      );
      if (!Item) return false;
      const before = fromExecutionItem(Item);
      const after = change(before);
      if (!after) return false;
      const rev = typeof Item.rev === 'number' ? Item.rev : 0;
      const put = {
        TableName: this.tableName,
        Item: toExecutionItem(after, rev + 1),
        ConditionExpression: 'rev = :rev',
        ExpressionAttributeValues: { ':rev': rev },
      };
      const delta = Object.entries(counterDelta(before, after)) as [CounterName, number][];
      try {
        if (delta.length === 0) {
          await this.client.send(new PutCommand(put));
        } else {
          await this.client.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: put },
                {
                  Update: {
                    TableName: this.tableName,
                    Key: waveKey(rolloutId, waveIndex),
                    UpdateExpression: `ADD ${delta.map((_, i) => `#c${i} :c${i}`).join(', ')}`,
                    ExpressionAttributeNames: Object.fromEntries(delta.map(([n], i) => [`#c${i}`, n])),
                    ExpressionAttributeValues: Object.fromEntries(delta.map(([, d], i) => [`:c${i}`, d])),
                  },
                },
              ],
            }),
          );
        }
        return true;
      } catch (error) {
        const conflict =
          error instanceof ConditionalCheckFailedException ||
          (error instanceof TransactionCanceledException &&
            (error.CancellationReasons ?? []).some(
              (r) => r.Code === 'ConditionalCheckFailed' || r.Code === 'TransactionConflict',
            ));
        if (!conflict || attempt >= MAX_WRITE_ATTEMPTS) throw error;
      }
    }
  }

  async #conditionalUpdate(update: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>) {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, ...update }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async #batchPut(items: Record<string, unknown>[]) {
    for (let i = 0; i < items.length; i += 25) {
      let request: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> | undefined = {
        [this.tableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
      };
      while (request && Object.keys(request).length > 0) {
        const result = await this.client.send(new BatchWriteCommand({ RequestItems: request }));
        request = result.UnprocessedItems as typeof request;
      }
    }
  }
}

const pad = (n: number) => String(n).padStart(3, '0');
const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });
const rolloutKey = (rolloutId: string) => ({ pk: `ROLLOUT#${rolloutId}`, sk: 'ROLLOUT' });
/**
 * Every rollout also has an entry in one listing partition, sorted by creation time, so `GET
 * /rollouts` is a Query of that partition and a BatchGet of the page's rollouts instead of a Scan
 * of the whole table. The entry holds only the id and creation time, which never change, so it
 * cannot disagree with the rollout however the rollout changes.
 */
const LISTING_PK = 'ROLLOUTS';
const listingKey = (rollout: Pick<Rollout, 'rolloutId' | 'createdAt'>) => ({
  pk: LISTING_PK,
  sk: `${rollout.createdAt}#${rollout.rolloutId}`,
});
const waveKey = (rolloutId: string, waveIndex: number) => ({
  pk: `ROLLOUT#${rolloutId}`,
  sk: `WAVE#${pad(waveIndex)}`,
});
const executionKey = (rolloutId: string, waveIndex: number, deviceId: string) => ({
  pk: `ROLLOUT#${rolloutId}`,
  sk: `EXEC#${pad(waveIndex)}#${deviceId}`,
});
const failedKeyOf = (rolloutId: string, waveIndex: number) => `${rolloutId}#${pad(waveIndex)}`;

function toExecutionItem(execution: DeviceExecution, rev: number): Record<string, unknown> {
  const { site, ...rest } = execution;
  const bucket = bucketOf(execution);
  return {
    ...executionKey(execution.rolloutId, execution.waveIndex, execution.deviceId),
    entity: 'execution',
    ...rest,
    deviceSite: site,
    bucket,
    rev,
    ...(bucket === 'failed' || bucket === 'rolled-back'
      ? { failedKey: failedKeyOf(execution.rolloutId, execution.waveIndex) }
      : {}),
  };
}

function fromExecutionItem(item: Record<string, unknown>): DeviceExecution {
  const {
    pk: _pk,
    sk: _sk,
    entity: _entity,
    deviceSite,
    bucket: _bucket,
    rev: _rev,
    failedKey: _failedKey,
    ...rest
  } = item;
  return { ...rest, site: String(deviceSite ?? rest.site ?? 'unknown') } as unknown as DeviceExecution;
}

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, entity: _entity, taskToken: _token, ...rest } = item;
  return rest as T;
}

/** A scan position: any item's key (the scan filters rollouts out of the whole table). */
const isTableCursor = (key: Record<string, unknown>) =>
  Object.keys(key).length === 2 && typeof key.pk === 'string' && typeof key.sk === 'string';

/** A listing position: a key of the rollout listing partition. */
const isListingCursor = (key: Record<string, unknown>) =>
  Object.keys(key).length === 2 && key.pk === LISTING_PK && typeof key.sk === 'string';
