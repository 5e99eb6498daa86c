import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConnectionEvent, Device, DeviceReport } from '../domain/device';
import { DeviceAlreadyExistsError, DeviceNotFoundError } from '../domain/errors';
import type { DevicePage, FleetStore, ListDevicesQuery } from '../ports/fleet-store';
import { decodeCursor, encodeCursor } from './page-cursor';

type Key = Record<string, string>;

/** Index over device items by site (sparse: only device items carry `site`). */
export const BY_SITE_INDEX = 'bySite';

const deviceKey = (deviceId: string): Key => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });

/**
 * FleetStore on the fleet table. One item per device (pk `DEVICE#<id>`, sk `DEVICE`); reports and
 * connection events are conditional updates, so a duplicated or older event writes nothing.
 */
export class DynamoDbFleetStore implements FleetStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createDevice(device: Device): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...deviceKey(device.deviceId), entity: 'device', ...toItem(device) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException)
        throw new DeviceAlreadyExistsError(device.deviceId);
      throw error;
    }
  }

  async completeRegistration(deviceId: string, certificateId: string): Promise<Device> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression: 'SET #status = :registered, certificateId = :cert',
          ConditionExpression: 'attribute_exists(pk)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':registered': 'registered', ':cert': certificateId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) throw new DeviceNotFoundError(deviceId);
      throw error;
    }
  }

  async deleteDevice(deviceId: string): Promise<void> {
    await this.client.send(new DeleteCommand({ TableName: this.tableName, Key: deviceKey(deviceId) }));
  }

  async getDevice(deviceId: string): Promise<Device | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: deviceKey(deviceId), ConsistentRead: true }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  async listDevices(query: ListDevicesQuery): Promise<DevicePage> {
    const filter = {
      FilterExpression: 'entity = :device AND #status = :registered',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':device': 'device', ':registered': 'registered' },
    };
    const fetchPage = (startKey: Key | undefined, limit: number) =>
      query.site === undefined
        ? this.client.send(
            new ScanCommand({
              TableName: this.tableName,
              ...filter,
              Limit: limit,
              ExclusiveStartKey: startKey,
            }),
          )
        : this.client.send(
            new QueryCommand({
              TableName: this.tableName,
              IndexName: BY_SITE_INDEX,
              KeyConditionExpression: 'site = :site',
              ...filter,
              ExpressionAttributeValues: { ...filter.ExpressionAttributeValues, ':site': query.site },
              Limit: limit,
              ExclusiveStartKey: startKey,
            }),
          );

    // A filtered page can come back short; keep reading until the page is full or the data ends.
    const items: Device[] = [];
    let startKey = query.cursor === undefined ? undefined : decodeCursor<Key>(query.cursor, isDeviceCursor);
    do {
      const page = await fetchPage(startKey, query.limit - items.length);
      items.push(...(page.Items ?? []).map(fromItem));
      startKey = page.LastEvaluatedKey as Key | undefined;
    } while (startKey !== undefined && items.length < query.limit);
    return startKey === undefined ? { items } : { items, nextCursor: encodeCursor(startKey) };
  }

  async recordReport(report: DeviceReport): Promise<boolean> {
    return this.conditionalUpdate(report.deviceId, {
      UpdateExpression: 'SET firmwareVersion = :fw, reportedShadowVersion = :v, lastReportAt = :at',
      ConditionExpression:
        'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(reportedShadowVersion) OR reportedShadowVersion < :v)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':fw': report.firmwareVersion,
        ':v': report.shadowVersion,
        ':at': report.reportedAt.toISOString(),
        ':registered': 'registered',
      },
    });
  }

  async recordConnection(event: ConnectionEvent): Promise<boolean> {
    return this.conditionalUpdate(event.deviceId, {
      UpdateExpression: 'SET connectionState = :state, connectionChangedAt = :at',
      ConditionExpression:
        'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(connectionChangedAt) OR connectionChangedAt < :at)',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':state': event.state,
        ':at': event.at.toISOString(),
        ':registered': 'registered',
      },
    });
  }

  private async conditionalUpdate(
    deviceId: string,
    update: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({ TableName: this.tableName, Key: deviceKey(deviceId), ...update }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function toItem(device: Device): Record<string, unknown> {
  const { connection, ...rest } = device;
  return { ...rest, connectionState: connection.state, connectionChangedAt: connection.changedAt };
}

function fromItem(item: Record<string, unknown>): Device {
  const { pk: _pk, sk: _sk, entity: _entity, connectionState, connectionChangedAt, ...rest } = item;
  return {
    ...(rest as Omit<Device, 'connection'>),
    connection: {
      state: (connectionState as Device['connection']['state'] | undefined) ?? 'unknown',
      ...(typeof connectionChangedAt === 'string' ? { changedAt: connectionChangedAt } : {}),
    },
  };
}

const CURSOR_KEYS = new Set(['pk', 'sk', 'site', 'deviceId']);

const isDeviceCursor = (key: Record<string, unknown>) =>
  'pk' in key && Object.entries(key).every(([k, v]) => CURSOR_KEYS.has(k) && typeof v === 'string');
