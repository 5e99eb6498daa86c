import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { CohortStatistics } from '../domain/cohort-statistics';
import type { AnomalyStore, AnomalyWriteOutcome, DeviceAnomalyChange } from '../ports/anomaly-store';
import { ANOMALIES_PARTITION, COHORTS_PARTITION } from './fleet-partitions';

type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/**
 * AnomalyStore on the fleet table. A device's streak (`anomalyStreak`), flag (`anomaly`) and the
 * run that last changed them (`anomalyRun`) live on its item; the write is conditional on
 * `anomalyRun` being another run, so a retried step cannot count a run twice. A flag or clear
 * puts or deletes the ANOMALIES entry in the same transaction: never one without the other.
 */
export class DynamoDbAnomalyStore implements AnomalyStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async applyDeviceChange(change: DeviceAnomalyChange): Promise<AnomalyWriteOutcome> {
    const { deviceId, runId, next } = change;
    const sets = ['anomalyRun = :run'];
    const removes: string[] = [];
    const values: Record<string, unknown> = { ':run': runId };
    if (Object.keys(next.streak).length > 0) {
      sets.push('anomalyStreak = :streak');
      values[':streak'] = next.streak;
    } else removes.push('anomalyStreak');
    if (next.anomaly) {
      sets.push('anomaly = :anomaly');
      values[':anomaly'] = next.anomaly;
    } else removes.push('anomaly');
    const update = {
      TableName: this.tableName,
      Key: { pk: `DEVICE#${deviceId}`, sk: 'DEVICE' },
      UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression:
        'attribute_exists(pk) AND (attribute_not_exists(anomalyRun) OR anomalyRun <> :run)',
      ExpressionAttributeValues: values,
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
    const entry = this.#anomalyEntryWrite(change);
    try {
      if (entry === undefined) await this.client.send(new UpdateCommand(update));
      else await this.client.send(new TransactWriteCommand({ TransactItems: [{ Update: update }, entry] }));
      return 'applied';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return error.Item ? 'already-applied' : 'gone';
      if (error instanceof TransactionCanceledException) {
        const reason = error.CancellationReasons?.[0];
        if (reason?.Code === 'ConditionalCheckFailed') return reason.Item ? 'already-applied' : 'gone';
      }
      throw error;
    }
  }

  #anomalyEntryWrite(change: DeviceAnomalyChange): TransactItem | undefined {
    const Key = { pk: ANOMALIES_PARTITION, sk: change.deviceId };
    if (change.transition === 'cleared') return { Delete: { TableName: this.tableName, Key } };
    const anomaly = change.next.anomaly;
    if (change.transition !== 'flagged' || !anomaly) return undefined;
    const { calmRuns: _calm, ...flag } = anomaly;
    // No `deviceId` attribute (the sort key is the device): with it and `cohort`, the entry would
    // land in the byCohort index and be read as a second device of its cohort.
    return { Put: { TableName: this.tableName, Item: { ...Key, entity: 'anomaly', ...flag } } };
  }

  async writeCohortStatistics(cohort: string, statistics: CohortStatistics): Promise<void> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = Object.entries(statistics).map(([name, value], i) => {
      names[`#s${i}`] = name;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    names['#analyzedAt'] = 'analyzedAt';
    values[':at'] = statistics.analyzedAt;
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: COHORTS_PARTITION, sk: cohort },
          UpdateExpression: `SET ${sets.join(', ')}`,
          // A slower, older run never overwrites a newer one's figures.
          ConditionExpression:
            'attribute_exists(pk) AND (attribute_not_exists(#analyzedAt) OR #analyzedAt <= :at)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}
