import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Cohort, cohortKey, type LatestHealth } from '../domain/telemetry';
import type {
  LatestOutcome,
  StoredAlert,
  StoredTelemetryBatch,
  TelemetryDevice,
  TelemetryStore,
} from '../ports/telemetry-store';
import { COHORTS_PARTITION } from './fleet-partitions';

export const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });
/** `TELEMETRY#<firstSeq, 12 digits>`: a device's batches sort by seq. */
export const telemetrySortKey = (firstSeq: number) => `TELEMETRY#${String(firstSeq).padStart(12, '0')}`;
export const alertSortKey = (alertId: string) => `ALERT#${alertId}`;

/**
 * TelemetryStore on the fleet table (docs/architecture.md, "Telemetry and alerts"). Every write is
 * conditional, so a redelivered or resent batch or alert writes nothing twice, and an older batch
 * never rolls a device's latest health back.
 */
export class DynamoDbTelemetryStore implements TelemetryStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async applyLatest(deviceId: string, latest: LatestHealth): Promise<LatestOutcome> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: deviceKey(deviceId),
          UpdateExpression:
            'SET #health = :health, #healthAt = :healthAt, #seconds = :seconds, #seq = :seq, #metrics = :metrics, #version = :version',
          ConditionExpression:
            'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(#seq) OR #seq < :seq)',
          ExpressionAttributeNames: {
            '#status': 'status',
            '#health': 'health',
            '#healthAt': 'healthAt',
            '#seconds': 'telemetrySeconds',
            '#seq': 'telemetrySeq',
            '#metrics': 'metrics',
            '#version': 'telemetryVersion',
          },
          ExpressionAttributeValues: {
            ':registered': 'registered',
            ':health': latest.health,
            ':healthAt': latest.healthAt,
            ':seconds': latest.windowSeconds,
            ':seq': latest.seq,
            ':metrics': latest.metrics,
            ':version': latest.firmwareVersion,
          },
          // The device's place in the fleet (region, site, hardware type, cohort) comes back with
          // the write, applied or not: no read before it.
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { kind: 'applied', device: deviceOf(Attributes ?? {}) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const old = error.Item;
      if (old?.status?.S !== 'registered') return { kind: 'unknown' };
      return { kind: 'stale', device: deviceOfRaw(old) };
    }
  }

  async setDeviceCohort(deviceId: string, cohort: Cohort, seq: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: deviceKey(deviceId),
        UpdateExpression: 'SET cohort = :cohort',
        ConditionExpression: 'telemetrySeq = :seq',
        ExpressionAttributeValues: { ':cohort': cohortKey(cohort), ':seq': seq },
      }),
    );
  }

  async addCohort(cohort: Cohort): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: COHORTS_PARTITION,
          sk: cohortKey(cohort),
          entity: 'cohort',
          region: cohort.region,
          site: cohort.site,
          hardwareType: cohort.hardwareType,
          version: cohort.version,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async putBatch(batch: StoredTelemetryBatch): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          pk: deviceKey(batch.deviceId).pk,
          sk: telemetrySortKey(batch.firstSeq),
          entity: 'telemetry',
          firstSeq: batch.firstSeq,
          lastSeq: batch.lastSeq,
          windows: batch.windows,
          ...(batch.trimmed ? { trimmed: true } : {}),
          receivedAt: batch.receivedAt,
          expiresAt: batch.expiresAt,
          ingestMessageId: batch.ingestMessageId,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR ingestMessageId = :messageId',
        ExpressionAttributeValues: { ':messageId': batch.ingestMessageId },
      }),
    );
  }

  async getDevice(deviceId: string): Promise<TelemetryDevice | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: deviceKey(deviceId),
        ProjectionExpression: 'deviceId, #status, #region, site, hardwareType, cohort',
        ExpressionAttributeNames: { '#status': 'status', '#region': 'region' },
      }),
    );
    return Item?.status === 'registered' ? deviceOf(Item) : undefined;
  }

  async putAlert(stored: StoredAlert): Promise<boolean> {
    return this.conditional(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...stored.alert,
          pk: deviceKey(stored.deviceId).pk,
          sk: alertSortKey(stored.alert.alertId),
          entity: 'alert',
          deviceId: stored.deviceId,
          receivedAt: stored.receivedAt,
          expiresAt: stored.expiresAt,
          ingestMessageId: stored.ingestMessageId,
        },
        ConditionExpression: 'attribute_not_exists(pk) OR ingestMessageId = :messageId',
        ExpressionAttributeValues: { ':messageId': stored.ingestMessageId },
      }),
    );
  }

  /** Sends a conditional write: false when its condition failed (nothing written). */
  private async conditional(command: PutCommand | UpdateCommand): Promise<boolean> {
    try {
      await this.client.send(command as PutCommand);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function deviceOf(item: Record<string, unknown>): TelemetryDevice {
  const text = (name: string) => (typeof item[name] === 'string' ? (item[name] as string) : '');
  return {
    deviceId: text('deviceId'),
    region: text('region'),
    site: text('site'),
    hardwareType: text('hardwareType'),
    ...(typeof item.cohort === 'string' ? { cohort: item.cohort } : {}),
    ...(typeof item.telemetrySeq === 'number' ? { telemetrySeq: item.telemetrySeq } : {}),
  };
}

/** The same from an item as DynamoDB returns it on a failed condition (not unmarshalled). */
const deviceOfRaw = (item: Record<string, AttributeValue>) =>
  deviceOf(
    Object.fromEntries(
      Object.entries(item).flatMap(([name, value]): [string, string | number][] =>
        value.S !== undefined ? [[name, value.S]] : value.N !== undefined ? [[name, Number(value.N)]] : [],
      ),
    ),
  );
