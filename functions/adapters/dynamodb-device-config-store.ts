import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ConfigValues } from '../../contract/device-config';
import { type ConfigLayer, type ConfigReportState, driftsByRevision } from '../domain/device-config';
import type {
  DeviceConfigPage,
  DeviceConfigRecord,
  DeviceConfigStore,
  DriftingDevice,
  SharedConfigScope,
} from '../ports/device-config-store';
import { decodeCursor, encodeCursor } from './page-cursor';

/** The sparse index of drifting devices: `configDrift` (the device's site) → `deviceId`. */
export const BY_CONFIG_DRIFT_INDEX = 'byConfigDrift';
/** Attributes the drift index carries besides its keys. */
export const CONFIG_DRIFT_PROJECTION = ['configDesiredRevision', 'configReport', 'configDeliveryError'];
const BY_SITE_INDEX = 'bySite';

const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });
const sharedKey = (scope: SharedConfigScope) =>
  scope.layer === 'fleet' ? { pk: 'CONFIG#FLEET', sk: 'CONFIG' } : { pk: `SITE#${scope.site}`, sk: 'CONFIG' };
const EMPTY: ConfigLayer = { values: {}, version: 0 };
const REGISTERED = { '#status': 'status' };

/**
 * DeviceConfigStore on the fleet table.
 * - The fleet layer is item `CONFIG#FLEET`/`CONFIG`, a site's `SITE#<site>`/`CONFIG` (the site
 *   named `siteName`, so it stays out of the `bySite` index of devices): `layerValues`,
 *   `version`, `updatedAt`. A cleared layer keeps its item (empty values) so its version only
 *   grows: a reader that compares versions never mistakes a new layer for an old one.
 * - A device's own layer and its configuration state are attributes of its device item:
 *   `configLayer`, `configLayerVersion`, `configDesiredRevision`, `configDeliveredRevision`,
 *   `configDeliveryError`, `configReport`, and `configDrift` (its site, only while it drifts),
 *   which feeds the sparse `byConfigDrift` index.
 */
export class DynamoDbDeviceConfigStore implements DeviceConfigStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async getSharedLayer(scope: SharedConfigScope): Promise<ConfigLayer> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: sharedKey(scope), ConsistentRead: true }),
    );
    if (!Item) return EMPTY;
    return {
      values: (Item.layerValues ?? {}) as ConfigValues,
      version: Number(Item.version ?? 0),
      ...(typeof Item.updatedAt === 'string' ? { updatedAt: Item.updatedAt } : {}),
    };
  }

  async putSharedLayer(scope: SharedConfigScope, values: ConfigValues): Promise<ConfigLayer> {
    const updatedAt = this.now().toISOString();
    const { Attributes } = await this.client.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: sharedKey(scope),
        UpdateExpression: `SET #entity = :entity, layerValues = :values, #updatedAt = :at${
          scope.layer === 'site' ? ', siteName = :site' : ''
        } ADD #version :one`,
        ExpressionAttributeNames: { '#entity': 'entity', '#updatedAt': 'updatedAt', '#version': 'version' },
        ExpressionAttributeValues: {
          ':entity': 'config-layer',
          ':values': values,
          ':at': updatedAt,
          ':one': 1,
          ...(scope.layer === 'site' ? { ':site': scope.site } : {}),
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return { values, version: Number(Attributes?.version ?? 1), updatedAt };
  }

  async getDevice(deviceId: string): Promise<DeviceConfigRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: deviceKey(deviceId), ConsistentRead: true }),
    );
    return Item && Item.status === 'registered' ? toRecord(Item) : undefined;
  }

  async putDeviceLayer(deviceId: string, values: ConfigValues): Promise<ConfigLayer | undefined> {
    const updatedAt = this.now().toISOString();
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression:
            'SET configLayer = :values, configLayerUpdatedAt = :at ADD configLayerVersion :one',
          ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
          ExpressionAttributeNames: REGISTERED,
          ExpressionAttributeValues: {
            ':values': values,
            ':at': updatedAt,
            ':one': 1,
            ':registered': 'registered',
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return { values, version: Number(Attributes?.configLayerVersion ?? 1), updatedAt };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async listDevices(
    site: string | undefined,
    limit: number,
    cursor?: string,
  ): Promise<DeviceConfigPage<DeviceConfigRecord>> {
    const start = cursor ? decodeCursor(cursor, (key) => isIndexKey(key, site)) : undefined;
    const common = {
      TableName: this.tableName,
      IndexName: BY_SITE_INDEX,
      Limit: limit,
      FilterExpression: '#status = :registered',
      ...(start ? { ExclusiveStartKey: start } : {}),
    };
    const output = await this.client.send(
      site === undefined
        ? new ScanCommand({
            ...common,
            ExpressionAttributeNames: REGISTERED,
            ExpressionAttributeValues: { ':registered': 'registered' },
          })
        : new QueryCommand({
            ...common,
            KeyConditionExpression: 'site = :site',
            ExpressionAttributeNames: REGISTERED,
            ExpressionAttributeValues: { ':registered': 'registered', ':site': site },
          }),
    );
    return {
      items: (output.Items ?? []).map(toRecord),
      ...(output.LastEvaluatedKey ? { nextCursor: encodeCursor(output.LastEvaluatedKey) } : {}),
    };
  }

  async setDesired(
    deviceId: string,
    desired: { revision: string; layerVersion: number; drifting: boolean },
  ): Promise<boolean> {
    return this.#conditional({
      Key: deviceKey(deviceId),
      UpdateExpression: desired.drifting
        ? 'SET configDesiredRevision = :rev, configDrift = site'
        : 'SET configDesiredRevision = :rev REMOVE configDrift',
      ConditionExpression: `attribute_exists(pk) AND #status = :registered AND ${layerIs(desired.layerVersion)}`,
      ExpressionAttributeNames: REGISTERED,
      ExpressionAttributeValues: {
        ':rev': desired.revision,
        ':registered': 'registered',
        ...(desired.layerVersion > 0 ? { ':lv': desired.layerVersion } : {}),
      },
    });
  }

  async markDelivered(
    deviceId: string,
    delivered: { revision: string; layerVersion: number; error?: string },
  ): Promise<boolean> {
    return this.#conditional({
      Key: deviceKey(deviceId),
      UpdateExpression: delivered.error
        ? 'SET configDeliveryError = :error, configDrift = site'
        : 'SET configDeliveredRevision = :rev REMOVE configDeliveryError',
      ConditionExpression: `configDesiredRevision = :rev AND ${layerIs(delivered.layerVersion)}`,
      ExpressionAttributeValues: {
        ':rev': delivered.revision,
        ...(delivered.error ? { ':error': delivered.error.slice(0, 512) } : {}),
        ...(delivered.layerVersion > 0 ? { ':lv': delivered.layerVersion } : {}),
      },
    });
  }

  async recordReport(deviceId: string, report: ConfigReportState): Promise<boolean> {
    let item: Record<string, unknown> | undefined;
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression: 'SET configReport = :report',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(configReport) OR configReport.seq < :seq)',
          ExpressionAttributeNames: REGISTERED,
          ExpressionAttributeValues: { ':report': report, ':registered': 'registered', ':seq': report.seq },
          ReturnValues: 'ALL_NEW',
        }),
      );
      item = output.Attributes;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    // Settle the drift flag against the revision desired now. If a delivery changed the desired
    // revision since, that delivery set the flag itself; a newer report settles it again.
    const desired = typeof item?.configDesiredRevision === 'string' ? item.configDesiredRevision : undefined;
    const drifting = driftsByRevision(desired, report) || typeof item?.configDeliveryError === 'string';
    await this.#conditional({
      Key: deviceKey(deviceId),
      UpdateExpression: drifting ? 'SET configDrift = site' : 'REMOVE configDrift',
      ConditionExpression: `configReport.seq = :seq AND ${
        desired ? 'configDesiredRevision = :rev' : 'attribute_not_exists(configDesiredRevision)'
      }`,
      ExpressionAttributeValues: { ':seq': report.seq, ...(desired ? { ':rev': desired } : {}) },
    });
    return true;
  }

  async listDrifting(
    site: string,
    limit: number,
    cursor?: string,
  ): Promise<DeviceConfigPage<DriftingDevice>> {
    const start = cursor
      ? decodeCursor(cursor, (key) => key.configDrift === site && isDeviceKey(key))
      : undefined;
    const output = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: BY_CONFIG_DRIFT_INDEX,
        KeyConditionExpression: 'configDrift = :site',
        ExpressionAttributeValues: { ':site': site },
        Limit: limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    return {
      items: (output.Items ?? []).map((item) => {
        const report = item.configReport as ConfigReportState | undefined;
        return {
          deviceId: String(item.deviceId),
          ...(typeof item.configDesiredRevision === 'string'
            ? { desiredRevision: item.configDesiredRevision }
            : {}),
          ...(report ? { reportedRevision: report.revision, rejected: report.rejected } : {}),
          ...(typeof item.configDeliveryError === 'string'
            ? { deliveryError: item.configDeliveryError }
            : {}),
        };
      }),
      ...(output.LastEvaluatedKey ? { nextCursor: encodeCursor(output.LastEvaluatedKey) } : {}),
    };
  }

  /** An UpdateItem whose failed condition means "not written", answered as false. */
  async #conditional(
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>,
  ): Promise<boolean> {
    try {
      await this.client.send(new UpdateCommand({ TableName: this.tableName, ...input }));
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

const layerIs = (version: number) =>
  version > 0 ? 'configLayerVersion = :lv' : 'attribute_not_exists(configLayerVersion)';

function toRecord(item: Record<string, unknown>): DeviceConfigRecord {
  const version = Number(item.configLayerVersion ?? 0);
  return {
    deviceId: String(item.deviceId),
    site: String(item.site),
    layer: {
      values: (item.configLayer ?? {}) as ConfigValues,
      version,
      ...(typeof item.configLayerUpdatedAt === 'string' ? { updatedAt: item.configLayerUpdatedAt } : {}),
    },
    ...(typeof item.configDesiredRevision === 'string'
      ? { desiredRevision: item.configDesiredRevision }
      : {}),
    ...(typeof item.configDeliveredRevision === 'string'
      ? { deliveredRevision: item.configDeliveredRevision }
      : {}),
    ...(typeof item.configDeliveryError === 'string' ? { deliveryError: item.configDeliveryError } : {}),
    ...(item.configReport ? { report: item.configReport as ConfigReportState } : {}),
  };
}

const isDeviceKey = (key: Record<string, unknown>) =>
  typeof key.pk === 'string' &&
  key.pk.startsWith('DEVICE#') &&
  key.sk === 'DEVICE' &&
  typeof key.deviceId === 'string';

const isIndexKey = (key: Record<string, unknown>, site: string | undefined) =>
  isDeviceKey(key) && typeof key.site === 'string' && (site === undefined || key.site === site);
