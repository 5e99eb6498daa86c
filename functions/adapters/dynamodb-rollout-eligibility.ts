import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { RolloutEligibility } from '../ports/rollout-eligibility';

/** DynamoDB BatchGetItem takes at most 100 keys. */
const BATCH_GET_KEYS = 100;

/**
 * RolloutEligibility on the fleet table: one BatchGetItem per 100 device items, reading only
 * `deviceId`, `status` and `quarantine`. Eligible is what target resolution takes
 * (FleetTargetResolver): registered and not quarantined.
 */
export class DynamoDbRolloutEligibility implements RolloutEligibility {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async ineligible(deviceIds: readonly string[]): Promise<ReadonlySet<string>> {
    const eligible = new Set<string>();
    for (let i = 0; i < deviceIds.length; i += BATCH_GET_KEYS) {
      let keys: Record<string, unknown>[] | undefined = deviceIds
        .slice(i, i + BATCH_GET_KEYS)
        .map((id) => ({ pk: `DEVICE#${id}`, sk: 'DEVICE' }));
      while (keys && keys.length > 0) {
        const page: BatchGetCommandOutput = await this.client.send(
          new BatchGetCommand({
            RequestItems: {
              [this.tableName]: {
                Keys: keys,
                ProjectionExpression: 'deviceId, #status, quarantine',
                ExpressionAttributeNames: { '#status': 'status' },
              },
            },
          }),
        );
        for (const item of page.Responses?.[this.tableName] ?? [])
          if (item.status === 'registered' && item.quarantine === undefined)
            eligible.add(String(item.deviceId));
        keys = page.UnprocessedKeys?.[this.tableName]?.Keys;
      }
    }
    return new Set(deviceIds.filter((id) => !eligible.has(id)));
  }
}
