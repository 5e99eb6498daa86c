import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { TelemetryWindowV1 } from '../../contract/telemetry';
import type { FleetSummaryCohort } from '../domain/fleet-summary';
import type {
  AnomalyEntry,
  AnomalyPage,
  FleetHealthReader,
  ReceivedAlert,
} from '../ports/fleet-health-reader';
import { ANOMALIES_PARTITION, COHORTS_PARTITION } from './fleet-partitions';
import { decodeCursor, encodeCursor } from './page-cursor';

/**
 * Batch items read at most for a device's recent windows. A batch item holds up to 120 windows
 * and up to about 300 KB, so this bounds one request to a few MB however long the device has sent.
 */
const MAX_BATCHES_READ = 12;
const BATCHES_PER_QUERY = 4;

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const numberOr = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** 13-digit epoch ms: alert ids start with it, so alert sort keys order by time. */
const epochDigits = (at: Date) => String(Math.max(0, at.getTime())).padStart(13, '0');

/**
 * FleetHealthReader on the fleet table, by Query only: the COHORTS and ANOMALIES partitions, and
 * a device's `TELEMETRY#` and `ALERT#` items (newest first). Eventually consistent reads: these
 * items change on the scale of seconds to minutes, and a read a second behind changes nothing.
 */
export class DynamoDbFleetHealthReader implements FleetHealthReader {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async listCohorts(): Promise<FleetSummaryCohort[]> {
    const cohorts: FleetSummaryCohort[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': COHORTS_PARTITION },
        ExclusiveStartKey: startKey,
      });
      cohorts.push(...(page.Items ?? []).map(cohortOf));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return cohorts;
  }

  async listAnomalies(limit: number, cursor?: string): Promise<AnomalyPage> {
    const page = await this.query({
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': ANOMALIES_PARTITION },
      Limit: limit,
      ExclusiveStartKey: cursor === undefined ? undefined : decodeCursor(cursor, isAnomaliesKey),
    });
    const items = (page.Items ?? []).map(anomalyOf);
    return page.LastEvaluatedKey === undefined
      ? { items }
      : { items, nextCursor: encodeCursor(page.LastEvaluatedKey) };
  }

  async recentWindows(
    deviceId: string,
    since: Date | undefined,
    limit: number,
  ): Promise<TelemetryWindowV1[]> {
    const sinceMs = since?.getTime() ?? Number.NEGATIVE_INFINITY;
    const windows: TelemetryWindowV1[] = [];
    let startKey: Record<string, unknown> | undefined;
    let read = 0;
    do {
      const page = await this.query({
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}`, ':prefix': 'TELEMETRY#' },
        ScanIndexForward: false,
        Limit: BATCHES_PER_QUERY,
        ExclusiveStartKey: startKey,
      });
      const batches = page.Items ?? [];
      read += batches.length;
      let older = false;
      for (const batch of batches) {
        const kept = (Array.isArray(batch.windows) ? (batch.windows as TelemetryWindowV1[]) : []).filter(
          (w) => w.start >= sinceMs,
        );
        windows.push(...kept);
        // Batches go back in seq order: once one starts before `since`, older ones do too.
        const first = Array.isArray(batch.windows)
          ? (batch.windows[0] as TelemetryWindowV1 | undefined)
          : undefined;
        if (first !== undefined && first.start < sinceMs) older = true;
      }
      startKey = older ? undefined : page.LastEvaluatedKey;
    } while (startKey && windows.length < limit && read < MAX_BATCHES_READ);
    return windows.sort((a, b) => b.seq - a.seq).slice(0, limit);
  }

  async recentAlerts(deviceId: string, since: Date | undefined, limit: number): Promise<ReceivedAlert[]> {
    const page = await this.query({
      KeyConditionExpression:
        since === undefined
          ? 'pk = :pk AND begins_with(sk, :prefix)'
          : 'pk = :pk AND sk BETWEEN :from AND :to',
      ExpressionAttributeValues: {
        ':pk': `DEVICE#${deviceId}`,
        ...(since === undefined
          ? { ':prefix': 'ALERT#' }
          : { ':from': `ALERT#${epochDigits(since)}`, ':to': 'ALERT#~' }),
      },
      ScanIndexForward: false,
      Limit: limit,
    });
    return (page.Items ?? []).map((item) => {
      const {
        pk: _pk,
        sk: _sk,
        entity: _e,
        deviceId: _d,
        expiresAt: _x,
        ingestMessageId: _m,
        ...alert
      } = item;
      return alert as ReceivedAlert;
    });
  }

  private query(input: Omit<QueryCommandInput, 'TableName'>) {
    return this.client.send(new QueryCommand({ TableName: this.tableName, ...input }));
  }
}

const isAnomaliesKey = (key: Record<string, unknown>) =>
  key.pk === ANOMALIES_PARTITION && typeof key.sk === 'string' && Object.keys(key).length === 2;

/** A COHORTS item: the labels ingestion wrote, and what the analysis added (if it has run). */
export function cohortOf(item: Record<string, unknown>): FleetSummaryCohort {
  const label = (name: string) => (typeof item[name] === 'string' ? (item[name] as string) : '');
  const health = isRecord(item.health) ? item.health : undefined;
  const metrics: Record<string, { median: number; p95: number; devices: number }> = {};
  if (isRecord(item.metrics)) {
    for (const [metric, stats] of Object.entries(item.metrics)) {
      const median = isRecord(stats) ? numberOr(stats.median) : undefined;
      if (!isRecord(stats) || median === undefined) continue;
      metrics[metric] = {
        median,
        p95: numberOr(stats.p95) ?? median,
        devices: numberOr(stats.devices) ?? 0,
      };
    }
  }
  const count = (v: unknown) => numberOr(v) ?? 0;
  return {
    cohort: String(item.sk),
    region: label('region'),
    site: label('site'),
    hardwareType: label('hardwareType'),
    version: label('version'),
    ...(typeof item.analyzedAt === 'string'
      ? {
          analyzedAt: item.analyzedAt,
          devices: count(item.devices),
          fresh: count(item.fresh),
          connected: count(item.connected),
          health: {
            healthy: count(health?.healthy),
            degraded: count(health?.degraded),
            unhealthy: count(health?.unhealthy),
            unknown: count(health?.unknown),
          },
          anomalous: count(item.anomalous),
          metrics,
          scored: item.scored === true,
        }
      : {}),
  };
}

function anomalyOf(item: Record<string, unknown>): AnomalyEntry {
  return {
    deviceId: String(item.sk),
    metric: String(item.metric),
    score: Number(item.score),
    value: Number(item.value),
    cohortMedian: Number(item.cohortMedian),
    cohort: String(item.cohort),
    since: String(item.since),
  };
}
