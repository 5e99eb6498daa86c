/**
 * Telemetry ingestion end to end (docs/architecture.md, "Telemetry and alerts"): a registered device
 * publishes telemetry batches and an alert over MQTT (mutual TLS), the rules route them through
 * SQS to the ingest Lambdas, and the fleet table, the history in the telemetry bucket and an
 * Athena query over it show them, each once.
 */
import { gunzipSync } from 'node:zlib';
import {
  AthenaClient,
  GetQueryExecutionCommand,
  GetQueryResultsCommand,
  StartQueryExecutionCommand,
} from '@aws-sdk/client-athena';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALERT_TOPIC,
  type AlertV1,
  alertId,
  encodeTelemetryBatch,
  TELEMETRY_TOPIC,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import { markRequestsAsTls } from '../../functions/shared/local-aws-tls';
import type { Registration } from '../../operator-client/operator-api-client';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { agentFor, api, context, eventually, profile } from './support';

const dynamo = () => DynamoDBDocumentClient.from(new DynamoDBClient(localClientConfig(context())));
const s3 = () => markRequestsAsTls(new S3Client({ ...localClientConfig(context()), forcePathStyle: true }));
const athena = () => new AthenaClient(localClientConfig(context()));
const outputs = () => context().outputs as unknown as Record<string, string>;
const table = () => outputs().FleetTableName as string;

const START = Date.now() - 60 * 60_000;
const window = (seq: number, health: TelemetryWindowV1['health'] = 'healthy'): TelemetryWindowV1 => ({
  seq,
  start: START + seq * 60_000,
  seconds: 60,
  firmwareVersion: '2.1.0',
  health,
  metrics: {
    'cpu.percent': { count: 6, min: 1, max: 20 + seq, mean: 10, p95: 15 + seq, sum: 60 },
    'memory.used_mib': { count: 6, min: 200, max: 220, mean: 210, p95: 218, sum: 1260 },
  },
});
const batch = (first: number, last: number, health?: TelemetryWindowV1['health']) =>
  JSON.stringify(
    encodeTelemetryBatch(Array.from({ length: last - first + 1 }, (_, i) => window(first + i, health))),
  );

let registration: Registration;
let client: MqttClient;
let deviceId: string;

const deviceItem = async () =>
  (
    await dynamo().send(
      new GetCommand({
        TableName: table(),
        Key: { pk: `DEVICE#${deviceId}`, sk: 'DEVICE' },
        ConsistentRead: true,
      }),
    )
  ).Item;
const itemsOf = async (prefix: string) =>
  (
    await dynamo().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `DEVICE#${deviceId}`, ':prefix': prefix },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

/** Every history row of this device in the telemetry bucket. */
async function historyRowsOfDevice(): Promise<Record<string, unknown>[]> {
  const bucket = outputs().TelemetryBucketName;
  const listed = await s3().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'history/' }));
  const rows: Record<string, unknown>[] = [];
  for (const { Key } of listed.Contents ?? []) {
    const object = await s3().send(new GetObjectCommand({ Bucket: bucket, Key }));
    const text = gunzipSync(
      Buffer.from(await (object.Body?.transformToByteArray() ?? new Uint8Array())),
    ).toString();
    rows.push(
      ...text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .filter((row) => row.device_id === deviceId),
    );
  }
  return rows;
}

beforeAll(async () => {
  registration = await api().registerDevice(profile(undefined, 'plant-telemetry'));
  deviceId = registration.device.deviceId;
  const { mqtt: broker } = context();
  client = await mqtt.connectAsync({
    protocol: 'mqtts',
    host: broker.host,
    port: broker.port,
    ca: broker.ca,
    cert: registration.credentials.certificatePem,
    key: registration.credentials.privateKey,
    clientId: deviceId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
});

afterAll(async () => {
  await client?.endAsync();
});

describe('telemetry from a device over MQTT → rule → SQS → Lambda → fleet table and history', () => {
  it("shows the device's latest health, its cohort, and the batch", async () => {
    await client.publishAsync(TELEMETRY_TOPIC(deviceId), batch(0, 2, 'degraded'), { qos: 1 });

    const device = await eventually(async () => {
      const item = await deviceItem();
      return item?.telemetrySeq === 2 ? item : undefined;
    }, 30_000);
    expect(device).toMatchObject({
      health: 'degraded',
      healthAt: new Date(START + 3 * 60_000).toISOString(),
      telemetryVersion: '2.1.0',
      cohort: `eu-west#plant-telemetry#rpi4#2.1.0`,
      metrics: {
        'cpu.percent': { p95: 17, mean: 10, max: 22, sum: 60 },
        'memory.used_mib': { p95: 218, mean: 210, max: 220, sum: 1260 },
      },
    });
    const batches = await itemsOf('TELEMETRY#');
    expect(batches.map((b) => [b.sk, b.lastSeq, (b.windows as unknown[]).length])).toEqual([
      ['TELEMETRY#000000000000', 2, 3],
    ]);
    expect(Number(batches[0]?.expiresAt)).toBeGreaterThan(Date.now() / 1000 + 13 * 86_400);
    const cohort = await dynamo().send(
      new GetCommand({
        TableName: table(),
        Key: { pk: 'COHORTS', sk: 'eu-west#plant-telemetry#rpi4#2.1.0' },
      }),
    );
    expect(cohort.Item).toMatchObject({
      region: 'eu-west',
      site: 'plant-telemetry',
      hardwareType: 'rpi4',
      version: '2.1.0',
    });
  });

  it('records an alert within seconds of its publishing', async () => {
    const at = Date.now();
    const alert: AlertV1 = {
      v: 1,
      alertId: alertId(at, 'cpu-hot', 'raised'),
      kind: 'threshold',
      ruleId: 'cpu-hot',
      state: 'raised',
      severity: 'critical',
      at,
      firmwareVersion: '2.1.0',
      metric: 'cpu.percent',
      value: 97,
      op: '>',
      threshold: 90,
    };

    const published = performance.now();
    await client.publishAsync(ALERT_TOPIC(deviceId), JSON.stringify(alert), { qos: 1 });
    const stored = await eventually(async () => (await itemsOf('ALERT#'))[0], 30_000);
    const latencyMs = performance.now() - published;

    console.log(`alert latency (publish → ALERT item readable): ${latencyMs.toFixed(0)} ms`);
    expect(stored).toMatchObject({ ...alert, sk: `ALERT#${alert.alertId}`, deviceId });
    expect(latencyMs).toBeLessThan(15_000);
  });

  it('writes a resent batch once, drops a malformed one, and keeps every window once in the history', async () => {
    const garbage = JSON.stringify({
      v: 1,
      encoding: 'deflate-raw+base64',
      firstSeq: 100,
      lastSeq: 100,
      count: 1,
      data: Buffer.from('not deflated').toString('base64'),
    });

    await client.publishAsync(TELEMETRY_TOPIC(deviceId), batch(0, 2, 'degraded'), { qos: 1 });
    await client.publishAsync(TELEMETRY_TOPIC(deviceId), garbage, { qos: 1 });
    await client.publishAsync(TELEMETRY_TOPIC(deviceId), '{"v":1,"firstSeq":"x"}', { qos: 1 });
    await client.publishAsync(TELEMETRY_TOPIC(deviceId), batch(3, 5), { qos: 1 });

    await eventually(async () => ((await deviceItem())?.telemetrySeq === 5 ? true : undefined), 30_000);
    // The resend and the malformed ones may be in a later invocation than the last batch.
    const rows = await eventually(async () => {
      const found = await historyRowsOfDevice();
      return found.length >= 6 ? found : undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 4000));

    expect((await itemsOf('TELEMETRY#')).map((b) => b.sk)).toEqual([
      'TELEMETRY#000000000000',
      'TELEMETRY#000000000003',
    ]);
    expect((await deviceItem())?.health).toBe('healthy');
    const settled = await historyRowsOfDevice();
    expect(settled.map((r) => r.seq).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(rows[0]).toMatchObject({ region: 'eu-west', site: 'plant-telemetry', hardware_type: 'rpi4' });
  });

  it('answers an Athena query over the history', async () => {
    const started = await athena().send(
      new StartQueryExecutionCommand({
        QueryString: `SELECT seq, health, metrics['cpu.percent'].p95 AS cpu_p95 FROM telemetry_history WHERE device_id = '${deviceId}' ORDER BY seq`,
        QueryExecutionContext: { Database: outputs().TelemetryGlueDatabase },
        WorkGroup: outputs().TelemetryAthenaWorkGroup,
      }),
    );
    const id = started.QueryExecutionId;
    const state = await eventually(async () => {
      const execution = await athena().send(new GetQueryExecutionCommand({ QueryExecutionId: id }));
      const s = execution.QueryExecution?.Status;
      return s?.State === 'SUCCEEDED' || s?.State === 'FAILED' ? s : undefined;
    }, 30_000);
    expect(state.StateChangeReason ?? '').toBe('');
    expect(state.State).toBe('SUCCEEDED');

    const results = await athena().send(new GetQueryResultsCommand({ QueryExecutionId: id }));
    const [header, ...data] = (results.ResultSet?.Rows ?? []).map((row) =>
      (row.Data ?? []).map((d) => d.VarCharValue),
    );
    expect(header).toEqual(['seq', 'health', 'cpu_p95']);
    // Numbers compare as numbers: Athena prints a double 15 as 15.0, local AWS (DuckDB) as 15.
    expect(data.map(([seq, health, p95]) => [Number(seq), health, Number(p95)])).toEqual([
      [0, 'degraded', 15],
      [1, 'degraded', 16],
      [2, 'degraded', 17],
      [3, 'healthy', 18],
      [4, 'healthy', 19],
      [5, 'healthy', 20],
    ]);
  });

  it("moves a device to its reported firmware's cohort from its shadow report", async () => {
    const other = await api().registerDevice(profile(undefined, 'plant-telemetry'));
    const agent = agentFor(other, '3.0.0');
    try {
      await agent.start();
      const key = 'eu-west#plant-telemetry#rpi4#3.0.0';

      const item = await eventually(async () => {
        const got = await dynamo().send(
          new GetCommand({
            TableName: table(),
            Key: { pk: `DEVICE#${other.device.deviceId}`, sk: 'DEVICE' },
          }),
        );
        return got.Item?.cohort === key ? got.Item : undefined;
      }, 30_000);
      const cohort = await dynamo().send(
        new GetCommand({ TableName: table(), Key: { pk: 'COHORTS', sk: key } }),
      );

      expect(item.firmwareVersion).toBe('3.0.0');
      expect(cohort.Item).toMatchObject({ version: '3.0.0', site: 'plant-telemetry' });
    } finally {
      await agent.stop();
    }
  });
});
