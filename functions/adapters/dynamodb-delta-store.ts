import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { FIRMWARE_COMPONENT } from '../../contract/ota-names';
import type { Delta } from '../domain/delta';
import type { DeltaStore } from '../ports/delta-store';
import { queryPartition } from './dynamodb-query';

/**
 * DeltaStore on the fleet table: one item per delta in its release's partition, pk
 * `RELEASE#<releaseId>`, sk `DELTA#<hardwareType>#<component>#<baseSha256>`, so a release's deltas
 * are one Query beside the release item (sk `RELEASE`). Create-only, like releases.
 *
 * Deltas recorded before multi-component releases have sk `DELTA#<hardwareType>#<baseSha256>` and
 * no `component`: they read as deltas of the `firmware` component, the only one their releases
 * have, and `getDelta` of a `firmware` delta finds them too.
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
            ...deltaItemKey(delta.releaseId, delta.hardwareType, delta.component, delta.baseSha256),
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

  async getDelta(
    releaseId: string,
    hardwareType: string,
    component: string,
    baseSha256: string,
  ): Promise<Delta | undefined> {
    const keys = [deltaItemKey(releaseId, hardwareType, component, baseSha256)];
    if (component === FIRMWARE_COMPONENT) keys.push(legacyDeltaItemKey(releaseId, hardwareType, baseSha256));
    for (const Key of keys) {
      const { Item } = await this.client.send(
        new GetCommand({ TableName: this.tableName, Key, ConsistentRead: true }),
      );
      if (Item) return deltaOf(Item);
    }
    return undefined;
  }

  async listDeltas(releaseId: string): Promise<Delta[]> {
    const items = await queryPartition(this.client, this.tableName, `RELEASE#${releaseId}`, 'DELTA#');
    return items.map(deltaOf);
  }
}

const deltaItemKey = (releaseId: string, hardwareType: string, component: string, baseSha256: string) => ({
  pk: `RELEASE#${releaseId}`,
  sk: `DELTA#${hardwareType}#${component}#${baseSha256}`,
});

const legacyDeltaItemKey = (releaseId: string, hardwareType: string, baseSha256: string) => ({
  pk: `RELEASE#${releaseId}`,
  sk: `DELTA#${hardwareType}#${baseSha256}`,
});

function deltaOf(item: Record<string, unknown>): Delta {
  const { pk: _pk, sk: _sk, entity: _entity, ...rest } = item;
  return { component: FIRMWARE_COMPONENT, ...rest } as unknown as Delta;
}
