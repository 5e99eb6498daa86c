import { setTimeout as sleep } from 'node:timers/promises';
import { BatchGetCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Cohort, cohortKeyOf, type DeviceTelemetry, type MetricWindow } from '../domain/telemetry-gate';
import {
  type LocatedDeviceTelemetry,
  MAX_TELEMETRY_READ,
  type TelemetryBaseline,
} from '../ports/telemetry-baseline';

/**
 * The index of device items by cohort (`<region>#<site>#<hardwareType>#<version>`, sorted by device
 * id), written by the telemetry ingestion (docs/architecture.md, lib/fleet-store.ts).
 */
export const BY_COHORT_INDEX = 'byCohort';
/** BatchGetItem rounds for keys DynamoDB left unprocessed (throttling) before the read fails. */
const MAX_BATCH_GET_ROUNDS = 5;

const deviceKey = (deviceId: string) => ({ pk: `DEVICE#${deviceId}`, sk: 'DEVICE' });

/**
 * TelemetryBaseline on the fleet table: updated devices by key (BatchGetItem of their device
 * items, only the attributes a gate reads), baselines by cohort (one Query page of `byCohort`,
 * whose projection carries `healthAt` and `metrics`). Eventually consistent reads: a gate
 * compares windows minutes long, a second's lag changes nothing.
 */
export class DynamoDbTelemetryBaseline implements TelemetryBaseline {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async latestOfDevices(deviceIds: readonly string[]): Promise<LocatedDeviceTelemetry[]> {
    if (deviceIds.length > MAX_TELEMETRY_READ)
      throw new Error(`latestOfDevices reads at most ${MAX_TELEMETRY_READ} devices at a time`);
    const items: Record<string, unknown>[] = [];
    let keys = [...new Set(deviceIds)].map(deviceKey);
    for (let round = 1; keys.length > 0; round++) {
      if (round > MAX_BATCH_GET_ROUNDS)
        throw new Error(
          `DynamoDB left ${keys.length} device item(s) unread after ${MAX_BATCH_GET_ROUNDS} tries`,
        );
      if (round > 1) await sleep(50 * 2 ** round);
      const page = await this.client.send(
        new BatchGetCommand({
          RequestItems: {
            [this.tableName]: {
              Keys: keys,
              ProjectionExpression: '#id, #region, #site, #hw, #version, #at, #metrics, #seconds',
              ExpressionAttributeNames: {
                '#id': 'deviceId',
                '#region': 'region',
                '#site': 'site',
                '#hw': 'hardwareType',
                '#version': 'telemetryVersion',
                '#at': 'healthAt',
                '#metrics': 'metrics',
                '#seconds': 'telemetrySeconds',
              },
            },
          },
        }),
      );
      items.push(...(page.Responses?.[this.tableName] ?? []));
      keys = (page.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as typeof keys;
    }
    return items.map((item) => ({
      ...telemetryOf(item),
      region: String(item.region ?? 'unknown'),
      site: String(item.site ?? 'unknown'),
      hardwareType: String(item.hardwareType ?? 'unknown'),
    }));
  }

  async latestOfCohort(cohort: Cohort, limit: number): Promise<DeviceTelemetry[]> {
    // No ProjectionExpression: a Query of an index may name only projected attributes, and the
    // index projects what a gate reads (its version is the cohort's).
    const { Items = [] } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: BY_COHORT_INDEX,
        KeyConditionExpression: 'cohort = :cohort',
        ExpressionAttributeValues: { ':cohort': cohortKeyOf(cohort) },
        Limit: Math.min(limit, MAX_TELEMETRY_READ),
      }),
    );
    return Items.map((item) => ({ ...telemetryOf(item), version: cohort.version }));
  }
}

/** The gate's view of a device item; anything malformed is left out, not guessed. */
function telemetryOf(item: Record<string, unknown>): DeviceTelemetry {
  const metrics: Record<string, MetricWindow> = {};
  if (item.metrics && typeof item.metrics === 'object') {
    for (const [name, window] of Object.entries(item.metrics as Record<string, unknown>)) {
      if (!window || typeof window !== 'object') continue;
      const w = window as Record<string, unknown>;
      const number = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
      metrics[name] = Object.fromEntries(
        (['p95', 'mean', 'max', 'sum'] as const).flatMap((stat) => {
          const value = number(w[stat]);
          return value === undefined ? [] : [[stat, value]];
        }),
      );
    }
  }
  return {
    deviceId: String(item.deviceId),
    ...(typeof item.telemetryVersion === 'string' ? { version: item.telemetryVersion } : {}),
    ...(typeof item.healthAt === 'string' ? { healthAt: item.healthAt } : {}),
    ...(typeof item.telemetrySeconds === 'number' ? { windowSeconds: item.telemetrySeconds } : {}),
    metrics,
  };
}
