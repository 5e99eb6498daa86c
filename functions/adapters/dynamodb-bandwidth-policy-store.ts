import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { BandwidthPolicyStore } from '../ports/bandwidth-policy-store';

/**
 * BandwidthPolicyStore on the fleet table: a device's own policy is the `bandwidthPolicy`
 * attribute of its device item; a site's is an item `SITE#<site>` / `SITE`. The site item names
 * its site `siteName`, not `site`, so it stays out of the sparse `bySite` index of devices.
 */
export class DynamoDbBandwidthPolicyStore implements BandwidthPolicyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async setDevicePolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `DEVICE#${deviceId}`, sk: 'DEVICE' },
          UpdateExpression: policy ? 'SET bandwidthPolicy = :policy' : 'REMOVE bandwidthPolicy',
          ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':registered': 'registered',
            ...(policy ? { ':policy': policy } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async getSitePolicy(site: string): Promise<BandwidthPolicy | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: siteKey(site), ConsistentRead: true }),
    );
    // Written only by setSitePolicy, after the API validated it.
    return Item?.bandwidthPolicy as BandwidthPolicy | undefined;
  }

  async setSitePolicy(site: string, policy: BandwidthPolicy | undefined): Promise<void> {
    if (!policy) {
      await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: siteKey(site) }));
      return;
    }
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...siteKey(site),
          entity: 'site',
          siteName: site,
          bandwidthPolicy: policy,
          updatedAt: this.now().toISOString(),
        },
      }),
    );
  }
}

const siteKey = (site: string) => ({ pk: `SITE#${site}`, sk: 'SITE' });
