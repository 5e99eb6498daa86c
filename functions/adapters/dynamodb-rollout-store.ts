import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DeviceBusyError, RolloutNotFoundError, RolloutStateError } from '../domain/errors';
import type { OtaEventV1 } from '../domain/ota-contract';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type DeviceExecution,
  type Rollout,
  type RolloutStatus,
} from '../domain/rollout';
import type { RolloutPage, RolloutStore } from '../ports/rollout-store';
import { queryPartition } from './dynamodb-query';
import { decodeCursor, encodeCursor } from './page-cursor';

/**
 * RolloutStore on the fleet table:
 * - rollout: pk `ROLLOUT#<id>`, sk `ROLLOUT` (waves inline; ≤ 10 of them);
 * - execution: pk `ROLLOUT#<id>`, sk `EXEC#<wave, 3 digits>#<deviceId>`, so a wave is one Query;
 * - claim: `activeRolloutId` on the device item, set at start and removed at the end. Planning
 *   already left out (or, forced, took over) devices of other active rollouts; two starts racing
 *   for the same device would both claim it, the later one winning.
 */
export class DynamoDbRolloutStore implements RolloutStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createRollout(rollout: Rollout, executions: readonly DeviceExecution[]): Promise<void> {
    const claimed: string[] = [];
    try {
      for (const e of executions) {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: deviceKey(e.deviceId),
            UpdateExpression: 'SET activeRolloutId = :rollout',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':rollout': rollout.rolloutId },
          }),
        );
        claimed.push(e.deviceId);
      }
    } catch (error) {
      await this.releaseDevices(rollout.rolloutId, claimed);
      if (error instanceof ConditionalCheckFailedException) {
        throw new DeviceBusyError(
          `A device of rollout ${rollout.rolloutId} was retired meanwhile; try again`,
        );
      }
      throw error;
    }
    await this.#batchPut(
      executions.map((e) => ({
        ...executionKey(e.rolloutId, e.waveIndex, e.deviceId),
        entity: 'execution',
        ...e,
      })),
    );
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...rolloutKey(rollout.rolloutId), entity: 'rollout', ...rollout },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getRollout(rolloutId: string): Promise<Rollout | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: rolloutKey(rolloutId), ConsistentRead: true }),
    );
    return Item ? stripKeys<Rollout>(Item) : undefined;
  }

  async listRollouts(limit: number, cursor?: string): Promise<RolloutPage> {
    const items: Rollout[] = [];
    let startKey =
      cursor === undefined ? undefined : decodeCursor<Record<string, string>>(cursor, isTableCursor);
    do {
      const page = await this.client.send(
        new ScanCommand({
          TableName: this.tableName,
          FilterExpression: 'entity = :rollout',
          ExpressionAttributeValues: { ':rollout': 'rollout' },
          Limit: limit - items.length,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []).map((i) => stripKeys<Rollout>(i)));
      startKey = page.LastEvaluatedKey as Record<string, string> | undefined;
    } while (startKey !== undefined && items.length < limit);
    return startKey === undefined ? { items } : { items, nextCursor: encodeCursor(startKey) };
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
    return items.map((i) => stripKeys<DeviceExecution>(i));
  }

  async queueWave(rolloutId: string, waveIndex: number, deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of deviceIds) {
      await this.#conditionalUpdate({
        Key: executionKey(rolloutId, waveIndex, deviceId),
        UpdateExpression: 'SET stage = :queued',
        ConditionExpression: 'attribute_exists(pk) AND stage = :pending',
        ExpressionAttributeValues: { ':queued': 'queued', ':pending': 'pending' },
      });
    }
  }

  async applyOtaEvent(event: OtaEventV1, waveIndex: number): Promise<boolean> {
    const values: Record<string, unknown> = {
      ':stage': event.stage,
      ':version': event.runningVersion,
      ':seq': event.seq,
    };
    const sets = ['stage = :stage', 'runningVersion = :version', 'lastSeq = :seq'];
    if (event.stage === 'healthy') {
      values[':since'] = new Date(event.at).toISOString();
      sets.push('healthySince = :since');
    }
    if (event.reason !== undefined) {
      values[':reason'] = event.reason;
      sets.push('reason = :reason');
    }
    if (event.bytesDownloaded !== undefined) {
      values[':bytes'] = event.bytesDownloaded;
      sets.push('bytesDownloaded = :bytes');
    }
    if (event.transfer !== undefined) {
      values[':transfer'] = event.transfer;
      sets.push('transfer = :transfer');
    }
    return this.#conditionalUpdate({
      Key: executionKey(event.rolloutId, waveIndex, event.deviceId),
      UpdateExpression: `SET ${sets.join(', ')}`,
      ConditionExpression: 'attribute_exists(pk) AND lastSeq < :seq',
      ExpressionAttributeValues: values,
    });
  }

  async releaseDevices(rolloutId: string, deviceIds: readonly string[]): Promise<void> {
    for (const deviceId of deviceIds) {
      await this.#conditionalUpdate({
        Key: deviceKey(deviceId),
        UpdateExpression: 'REMOVE activeRolloutId',
        ConditionExpression: 'activeRolloutId = :rollout',
        ExpressionAttributeValues: { ':rollout': rolloutId },
      });
    }
  }

  async activeClaims(deviceIds: readonly string[]): Promise<Map<string, string>> {
    const holders = new Map<string, string>();
    for (let i = 0; i < deviceIds.length; i += 100) {
      const keys = deviceIds.slice(i, i + 100).map(deviceKey);
      let request:
        | Record<string, { Keys: Record<string, string>[]; ProjectionExpression: string }>
        | undefined = {
        [this.tableName]: { Keys: keys, ProjectionExpression: 'deviceId, activeRolloutId' },
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
    // A claim counts only while its rollout is active (a crashed run may leave one behind).
    const active = new Map<string, boolean>();
    for (const rolloutId of new Set(holders.values())) {
      const rollout = await this.getRollout(rolloutId);
      active.set(rolloutId, rollout !== undefined && ACTIVE_ROLLOUT_STATUSES.includes(rollout.status));
    }
    return new Map([...holders].filter(([, rolloutId]) => active.get(rolloutId)));
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
const executionKey = (rolloutId: string, waveIndex: number, deviceId: string) => ({
  pk: `ROLLOUT#${rolloutId}`,
  sk: `EXEC#${pad(waveIndex)}#${deviceId}`,
});

function stripKeys<T>(item: Record<string, unknown>): T {
  const { pk: _pk, sk: _sk, entity: _entity, taskToken: _token, ...rest } = item;
  return rest as T;
}

/** A scan position: any item's key (the scan filters rollouts out of the whole table). */
const isTableCursor = (key: Record<string, unknown>) =>
  Object.keys(key).length === 2 && typeof key.pk === 'string' && typeof key.sk === 'string';
