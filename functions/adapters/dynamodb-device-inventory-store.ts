import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { DeviceInventoryV1 } from '../../contract/device-commands';
import type { DeviceInventoryStore } from '../ports/device-inventory-store';

/**
 * The inventory on the device item (`inventory`, with `inventoryReportedAt` to order reports): one
 * conditional update, so an older or repeated report, or one for a device not registered, writes
 * nothing.
 */
export class DynamoDbDeviceInventoryStore implements DeviceInventoryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async record(deviceId: string, inventory: DeviceInventoryV1): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `DEVICE#${deviceId}`, sk: 'DEVICE' },
          UpdateExpression: 'SET inventory = :inventory, inventoryReportedAt = :at',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(inventoryReportedAt) OR inventoryReportedAt < :at)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':inventory': inventory,
            ':at': new Date(inventory.reportedAt).toISOString(),
            ':registered': 'registered',
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
