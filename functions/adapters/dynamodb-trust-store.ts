import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { sameTarget, TargetConflictError, type TargetEntry } from '../domain/trust-targets';
import type { TrustState, TrustStore } from '../ports/trust-repository';
import { queryPartition } from './dynamodb-query';

const PK = 'TRUST';
const STATE = { pk: PK, sk: 'STATE' };
const LOCK = { pk: PK, sk: 'LOCK' };
const TARGET_PREFIX = 'TARGET#';

/**
 * TrustStore on the fleet table, all in one partition (pk `TRUST`): the state (sk `STATE`), the
 * publishing lock (sk `LOCK`, taken with a condition, expiring by its own timestamp), and one item
 * per signed target (sk `TARGET#<path>`, written only if absent).
 */
export class DynamoDbTrustStore implements TrustStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getState(): Promise<TrustState | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: STATE, ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, entity: _entity, ...state } = Item;
    return state as TrustState;
  }

  async putState(state: TrustState): Promise<void> {
    await this.client.send(
      new PutCommand({ TableName: this.tableName, Item: { ...STATE, entity: 'trust-state', ...state } }),
    );
  }

  async addTargets(entries: readonly TargetEntry[]): Promise<void> {
    for (const entry of entries) {
      const Key = { pk: PK, sk: `${TARGET_PREFIX}${entry.path}` };
      try {
        await this.client.send(
          new PutCommand({
            TableName: this.tableName,
            Item: { ...Key, entity: 'trust-target', ...entry },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        const { Item } = await this.client.send(
          new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }),
        );
        const existing = Item && {
          path: entry.path,
          length: Number(Item.length),
          sha256: String(Item.sha256),
        };
        if (!existing || !sameTarget(existing as TargetEntry, entry))
          throw new TargetConflictError(entry.path);
      }
    }
  }

  async listTargets(): Promise<TargetEntry[]> {
    return (await queryPartition(this.client, this.tableName, PK, TARGET_PREFIX)).map((item) => ({
      path: String(item.path),
      length: Number(item.length),
      sha256: String(item.sha256),
      facts: item.facts as TargetEntry['facts'],
    }));
  }

  async lock(owner: string, ttlSeconds: number, now: Date): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...LOCK, entity: 'trust-lock', owner, until: now.getTime() + ttlSeconds * 1000 },
          ConditionExpression: 'attribute_not_exists(pk) OR #until < :now OR #owner = :owner',
          ExpressionAttributeNames: { '#until': 'until', '#owner': 'owner' },
          ExpressionAttributeValues: { ':now': now.getTime(), ':owner': owner },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async unlock(owner: string): Promise<void> {
    try {
      await this.client.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: LOCK,
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
