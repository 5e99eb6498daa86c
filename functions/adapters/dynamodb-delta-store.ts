import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Delta } from '../domain/delta';
import type { DeltaStore } from '../ports/delta-store';
import { queryPartition } from './dynamodb-query';

/**
 * DeltaStore on the fleet table: one item per delta in its release's partition, pk
 * `RELEASE#<releaseId>`, sk `DELTA#<hardwareType>#<baseSha256>`, so a release's deltas are one
 * Query beside the release item (sk `RELEASE`). Create-only, like releases.
 */
export class DynamoDbDeltaStore implements DeltaStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putDelta(delta: Delta): Promise<boolean> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            ...deltaItemKey(delta.releaseId, delta.hardwareType, delta.baseSha256),
            entity: 'delta',
            ...delta,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getDelta(releaseId: string, hardwareType: string, baseSha256: string): Promise<Delta | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: deltaItemKey(releaseId, hardwareType, baseSha256),
        ConsistentRead: true,
      }),
    );
    return Item ? withoutKeys(Item) : undefined;
  }

  async listDeltas(releaseId: string): Promise<Delta[]> {
    const items = await queryPartition(this.client, this.tableName, `RELEASE#${releaseId}`, 'DELTA#');
    return items.map(withoutKeys);
  }
}

const deltaItemKey = (releaseId: string, hardwareType: string, baseSha256: string) => ({
  pk: `RELEASE#${releaseId}`,
  sk: `DELTA#${hardwareType}#${baseSha256}`,
});

function withoutKeys(item: Record<string, unknown>): Delta {
  const { pk: _pk, sk: _sk, entity: _entity, ...rest } = item;
  return rest as unknown as Delta;
}
