import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Device } from '../domain/device';
import type { CertificateRotation, Quarantine, Retirement } from '../domain/device-lifecycle';
import type { DeviceLifecycleStore } from '../ports/device-lifecycle-store';
import { LIFECYCLE_PARTITIONS } from './fleet-partitions';

const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });
/** A device's entry in the QUARANTINED or RETIRED partition: what `GET /devices?status=` reads. */
const entryKey = (status: keyof typeof LIFECYCLE_PARTITIONS, deviceId: string) => ({
  pk: LIFECYCLE_PARTITIONS[status],
  sk: deviceId,
});

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * DeviceLifecycleStore on the fleet table's device items (pk `DEVICE#<id>`, sk `DEVICE`). Every
 * write is conditional on the item itself: registered (not retired) for rotation and quarantine,
 * and the rotation read for rotation writes, so concurrent requests cannot both win. A quarantine,
 * release or retirement also puts or deletes the device's entry in the QUARANTINED / RETIRED
 * partition in the same transaction, so the listing never disagrees with the items. The entries
 * carry no `deviceId`, `site` or `cohort`, so no device index lists them.
 */
export class DynamoDbDeviceLifecycleStore implements DeviceLifecycleStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async getDevice(deviceId: string): Promise<Device | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: deviceKey(deviceId), ConsistentRead: true }),
    );
    if (!Item) return undefined;
    const { pk: _pk, sk: _sk, entity: _entity, connectionState, connectionChangedAt, ...rest } = Item;
    return {
      ...(rest as Omit<Device, 'connection'>),
      connection: {
        state: (connectionState as Device['connection']['state'] | undefined) ?? 'unknown',
        ...(typeof connectionChangedAt === 'string' ? { changedAt: connectionChangedAt } : {}),
      },
    };
  }

  recordRotation(deviceId: string, rotation: CertificateRotation, expected: string | undefined) {
    return this.#update(deviceId, {
      UpdateExpression: 'SET rotation = :rotation',
      ConditionExpression: `#status = :registered AND ${
        expected === undefined ? 'attribute_not_exists(rotation)' : 'rotation.requestId = :expected'
      }`,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':rotation': rotation,
        ':registered': 'registered',
        ...(expected === undefined ? {} : { ':expected': expected }),
      },
    });
  }

  async confirmRotation(deviceId: string, requestId: string, confirmedAt: string) {
    const device = await this.getDevice(deviceId);
    const rotation = device?.rotation;
    if (!rotation || rotation.requestId !== requestId || rotation.state !== 'issued') return false;
    const { certificatePem: _pem, ...kept } = rotation;
    return this.#update(deviceId, {
      UpdateExpression: 'SET rotation = :confirmed, certificateId = :cert, certificateNotAfter = :notAfter',
      ConditionExpression:
        '#status = :registered AND rotation.requestId = :request AND rotation.#state = :issued',
      ExpressionAttributeNames: { '#status': 'status', '#state': 'state' },
      ExpressionAttributeValues: {
        ':confirmed': { ...kept, state: 'confirmed', confirmedAt },
        ':cert': rotation.certificateId,
        ':notAfter': rotation.notAfter,
        ':registered': 'registered',
        ':request': requestId,
        ':issued': 'issued',
      },
    });
  }

  setQuarantine(deviceId: string, quarantine: Quarantine | undefined) {
    return this.#transact([
      {
        Update: {
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression: quarantine ? 'SET quarantine = :quarantine' : 'REMOVE quarantine',
          ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':registered': 'registered',
            ...(quarantine ? { ':quarantine': quarantine } : {}),
          },
        },
      },
      quarantine
        ? {
            Put: {
              TableName: this.tableName,
              Item: {
                ...entryKey('quarantined', deviceId),
                entity: 'lifecycle-entry',
                since: quarantine.since,
              },
            },
          }
        : { Delete: { TableName: this.tableName, Key: entryKey('quarantined', deviceId) } },
    ]);
  }

  async markRetired(deviceId: string, retirement: Retirement) {
    // A retired device is no longer quarantined: retirement is the stronger state, listed once.
    const retired = await this.#transact([
      {
        Update: {
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression: 'SET #status = :retired, retirement = :retirement REMOVE quarantine',
          ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':retired': 'retired',
            ':retirement': retirement,
            ':registered': 'registered',
          },
        },
      },
      {
        Put: {
          TableName: this.tableName,
          Item: { ...entryKey('retired', deviceId), entity: 'lifecycle-entry', since: retirement.at },
        },
      },
      { Delete: { TableName: this.tableName, Key: entryKey('quarantined', deviceId) } },
    ]);
    return retired || (await this.getDevice(deviceId))?.status === 'retired';
  }

  /** One transaction; false when its condition on the device item failed. */
  async #transact(items: TransactItem[]): Promise<boolean> {
    try {
      await this.client.send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (
        error instanceof TransactionCanceledException &&
        error.CancellationReasons?.some((r) => r.Code === 'ConditionalCheckFailed')
      )
        return false;
      throw error;
    }
  }

  async #update(
    deviceId: string,
    update: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          ...update,
          ConditionExpression: `attribute_exists(pk) AND (${update.ConditionExpression})`,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
