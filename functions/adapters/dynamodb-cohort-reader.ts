import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { DeviceAnomaly } from '../domain/anomaly';
import type { CohortDevice, CohortEntry, DeviceHealth } from '../domain/cohort-statistics';
import type { CohortPage, CohortReader } from '../ports/cohort-reader';
import { COHORTS_PARTITION } from './fleet-partitions';
import { decodeCursor, encodeCursor } from './page-cursor';

/** The index of devices by cohort (lib/fleet-store.ts); its projection is what readCohort reads. */
export const BY_COHORT_INDEX = 'byCohort';
/** Devices per Query page of a cohort (each about 1 KB with its latest metrics). */
const DEVICES_PER_QUERY = 500;

const HEALTH: ReadonlySet<string> = new Set(['healthy', 'degraded', 'unhealthy']);

/**
 * CohortReader on the fleet table: COHORTS entries by Query of their partition, a cohort's
 * devices by Query of the byCohort index (eventually consistent: the analysis runs every few
 * minutes on telemetry minutes old, so a read a second behind changes nothing).
 */
export class DynamoDbCohortReader implements CohortReader {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async listCohorts(limit: number, cursor?: string): Promise<CohortPage> {
    const { Items = [], LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': COHORTS_PARTITION },
        ProjectionExpression: 'sk, #region, site, hardwareType, version',
        ExpressionAttributeNames: { '#region': 'region' },
        Limit: limit,
        ExclusiveStartKey: cursor === undefined ? undefined : decodeCursor(cursor, isCohortsKey),
      }),
    );
    const cohorts = Items.map(toCohortEntry);
    return LastEvaluatedKey === undefined ? { cohorts } : { cohorts, cursor: encodeCursor(LastEvaluatedKey) };
  }

  async readCohort(cohort: string): Promise<CohortDevice[]> {
    const devices: CohortDevice[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: BY_COHORT_INDEX,
          KeyConditionExpression: 'cohort = :cohort',
          ExpressionAttributeValues: { ':cohort': cohort },
          Limit: DEVICES_PER_QUERY,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) devices.push(toCohortDevice(item));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return devices;
  }
}

const isCohortsKey = (key: Record<string, unknown>) =>
  key.pk === COHORTS_PARTITION && typeof key.sk === 'string' && Object.keys(key).length === 2;

/** The entry's own labels; a cohort id is `<region>#<site>#<hardwareType>#<version>` otherwise. */
function toCohortEntry(item: Record<string, unknown>): CohortEntry {
  const cohort = String(item.sk);
  const parts = cohort.split('#');
  const label = (name: string, index: number) =>
    typeof item[name] === 'string' ? (item[name] as string) : (parts[index] ?? '');
  return {
    cohort,
    region: label('region', 0),
    site: label('site', 1),
    hardwareType: label('hardwareType', 2),
    version: label('version', parts.length - 1),
  };
}

function toCohortDevice(item: Record<string, unknown>): CohortDevice {
  const streak: Record<string, number> = {};
  if (typeof item.anomalyStreak === 'object' && item.anomalyStreak !== null) {
    for (const [metric, runs] of Object.entries(item.anomalyStreak)) {
      if (typeof runs === 'number' && runs > 0) streak[metric] = runs;
    }
  }
  const device: {
    -readonly [K in keyof CohortDevice]: CohortDevice[K];
  } = {
    deviceId: typeof item.deviceId === 'string' ? item.deviceId : String(item.pk).replace(/^DEVICE#/, ''),
    streak,
  };
  if (typeof item.health === 'string' && HEALTH.has(item.health)) device.health = item.health as DeviceHealth;
  if (typeof item.healthAt === 'string') device.healthAt = item.healthAt;
  if (typeof item.metrics === 'object' && item.metrics !== null)
    device.metrics = item.metrics as CohortDevice['metrics'];
  if (typeof item.connectionState === 'string') device.connectionState = item.connectionState;
  if (isAnomaly(item.anomaly))
    device.anomaly = { ...item.anomaly, calmRuns: Number(item.anomaly.calmRuns ?? 0) };
  return device;
}

function isAnomaly(value: unknown): value is DeviceAnomaly {
  if (typeof value !== 'object' || value === null) return false;
  const a = value as Record<string, unknown>;
  return typeof a.metric === 'string' && typeof a.since === 'string' && typeof a.score === 'number';
}
