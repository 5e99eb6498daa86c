import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConnectionEvent, Device, DeviceReport } from '../domain/device';
import { DeviceAlreadyExistsError, DeviceNotFoundError } from '../domain/errors';
import { cohortKey, cohortOf } from '../domain/telemetry';
import type { DevicePage, FleetStore, ListDevicesQuery } from '../ports/fleet-store';
import { DynamoDbDeviceListing } from './dynamodb-device-listing';
import { DynamoDbTelemetryStore } from './dynamodb-telemetry-store';

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

  /** Filters, index choice and the bounded read: see DynamoDbDeviceListing. */
  async listDevices(query: ListDevicesQuery): Promise<DevicePage> {
    return new DynamoDbDeviceListing(this.client, this.tableName, fromItem).list(query);
  }

  /**
   * Also moves the device to the cohort of the reported version (`cohort`, in the same write) and,
   * when that changed it, creates the `COHORTS` entry if absent: one read of the device's region,
   * site and hardware type first (they never change), one extra write only on a cohort change.
   */
  async recordReport(report: DeviceReport): Promise<boolean> {
    const { Item: profile } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: deviceKey(report.deviceId),
        ProjectionExpression: '#region, site, hardwareType',
        ExpressionAttributeNames: { '#region': 'region' },
      }),
    );
    if (!profile) return false;
    const cohort = cohortOf(
      profile as Pick<Device, 'region' | 'site' | 'hardwareType'>,
      report.firmwareVersion,
    );
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(report.deviceId),
          UpdateExpression:
            'SET firmwareVersion = :fw, reportedShadowVersion = :v, lastReportAt = :at, cohort = :cohort',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(reportedShadowVersion) OR reportedShadowVersion < :v)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':fw': report.firmwareVersion,
            ':v': report.shadowVersion,
            ':at': report.reportedAt.toISOString(),
            ':registered': 'registered',
            ':cohort': cohortKey(cohort),
          },
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      if (Attributes?.cohort !== cohortKey(cohort))
        await new DynamoDbTelemetryStore(this.client, this.tableName).addCohort(cohort);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
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
