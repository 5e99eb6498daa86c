/**
 * Fleet queries end to end against local AWS. Four registered devices of one site publish
 * telemetry batches and an alert over MQTT through the real ingest path (rule → SQS → Lambda →
 * fleet table); the real fleet analysis state machine (started by hand: the local stage has no
 * schedule) writes the COHORTS statistics. Only the anomaly flag is seeded directly with the SDK,
 * in the shape the analysis writes: flagging for real takes ≥ 20 devices and three analyses, which
 * test/e2e/fleet-anomalies.test.ts covers.
 */
import { randomBytes } from 'node:crypto';
import { CognitoIdentityProviderClient } from '@aws-sdk/client-cognito-identity-provider';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ALERT_TOPIC,
  type AlertV1,
  alertId,
  encodeTelemetryBatch,
  type HealthState,
  TELEMETRY_TOPIC,
  type TelemetryWindowV1,
} from '../../contract/telemetry';
import { AwsService } from '../../functions/shared/aws-api/aws-service';
import type { DeviceView, Registration } from '../../operator-client/operator-api-client';
import { LOCAL_AWS_ENV } from '../../scripts/local-aws/ministack';
import { createOperator } from '../../scripts/local-aws/operators';
import { api, context, eventually } from './support';

const outputs = () => context().outputs as unknown as Record<string, string>;
const local = () => ({
  endpoint: context().endpoint,
  region: LOCAL_AWS_ENV.AWS_REGION,
  credentials: {
    accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  },
});

const site = `fq-${randomBytes(3).toString('hex')}`;
const region = 'eu-west';
const OLD = '2.0.0';
const NEW = '2.1.0';
/** Device → the version it runs and the health its latest window reports. */
const FLEET: Record<'a' | 'b' | 'c' | 'd', { version: string; health: HealthState }> = {
  a: { version: OLD, health: 'healthy' },
  b: { version: OLD, health: 'degraded' },
  c: { version: OLD, health: 'healthy' },
  d: { version: NEW, health: 'unhealthy' },
};
const idOf = (name: keyof typeof FLEET) => `${site}-${name}`;
const now = Date.now();
/** Window `seq` of a device: one minute each, the last ending about now. */
const windowOf = (name: keyof typeof FLEET, seq: number, last = 4): TelemetryWindowV1 => ({
  seq,
  start: now - (last + 1 - seq) * 60_000,
  seconds: 60,
  firmwareVersion: FLEET[name].version,
  health: seq === last ? FLEET[name].health : 'healthy',
  metrics: {
    'memory.used_mib': { count: 6, min: 400, max: 420 + seq, mean: 410, p95: 418 + seq, sum: 2460 },
    'cpu.percent': { count: 6, min: 10, max: 30, mean: 20, p95: 28, sum: 120 },
  },
});

const jsonCall = (signingName: string, endpointId: string, target: string) => {
  const service = new AwsService({ signingName, endpointId, host: () => 'unused' });
  return <T>(operation: string, input: object) =>
    service.sendJson<T>({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `${target}.${operation}`, 'content-type': 'application/x-amz-json-1.0' },
      body: JSON.stringify(input),
    });
};

const clients: MqttClient[] = [];
const registrations = new Map<string, Registration>();
const dynamo = () => DynamoDBDocumentClient.from(new DynamoDBClient(local()));

async function connect(registration: Registration) {
  const { mqtt: broker } = context();
  return mqtt.connectAsync({
    protocol: 'mqtts',
    host: broker.host,
    port: broker.port,
    ca: broker.ca,
    cert: registration.credentials.certificatePem,
    key: registration.credentials.privateKey,
    clientId: registration.device.deviceId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
  });
}

const publish = (client: MqttClient, topic: string, payload: unknown) =>
  client.publishAsync(topic, JSON.stringify(payload), { qos: 1 });

async function allDevices(query: Parameters<ReturnType<typeof api>['listDevices']>[0]) {
  const seen: DeviceView[] = [];
  let cursor: string | undefined;
  do {
    const page = await api('viewer').listDevices({ ...query, ...(cursor ? { cursor } : {}) });
    seen.push(...page.items);
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return seen.map((d) => d.deviceId).sort();
}

const raisedAt = now - 30_000;
const alert: AlertV1 = {
  v: 1,
  alertId: alertId(raisedAt, 'hot', 'raised'),
  kind: 'threshold',
  ruleId: 'hot',
  state: 'raised',
  severity: 'critical',
  at: raisedAt,
  firmwareVersion: OLD,
  metric: 'temperature.celsius',
  value: 88,
  op: '>',
  threshold: 80,
};

beforeAll(async () => {
  Object.assign(process.env, LOCAL_AWS_ENV, { AWS_ENDPOINT_URL: context().endpoint });
  for (const name of Object.keys(FLEET) as (keyof typeof FLEET)[]) {
    const registration = await api().registerDevice({
      deviceId: idOf(name),
      hardwareType: 'rpi4',
      site,
      region,
    });
    registrations.set(name, registration);
    const client = await connect(registration);
    clients.push(client);
    // Device a sends two batches (seq 0-2, then 3-4); the others one (0-4).
    if (name === 'a') {
      await publish(
        client,
        TELEMETRY_TOPIC(idOf(name)),
        encodeTelemetryBatch([0, 1, 2].map((s) => windowOf(name, s))),
      );
      await publish(
        client,
        TELEMETRY_TOPIC(idOf(name)),
        encodeTelemetryBatch([3, 4].map((s) => windowOf(name, s))),
      );
    } else {
      await publish(
        client,
        TELEMETRY_TOPIC(idOf(name)),
        encodeTelemetryBatch([0, 1, 2, 3, 4].map((s) => windowOf(name, s))),
      );
    }
    if (name === 'b') await publish(client, ALERT_TOPIC(idOf(name)), alert);
  }
  // Ingested: every device shows its latest window's health, and is connected.
  await eventually(async () => {
    const views = await Promise.all(
      [...registrations.keys()].map((n) => api('viewer').getDevice(idOf(n as 'a'))),
    );
    return views.every((v, i) => {
      const name = [...registrations.keys()][i] as keyof typeof FLEET;
      return v.health === FLEET[name].health && v.connection.state === 'connected';
    })
      ? true
      : undefined;
  }, 90_000);
}, 240_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync()));
});

describe('GET /devices with filters', () => {
  it('shows the latest health, its time and metrics in the device view', async () => {
    const device = await api('viewer').getDevice(idOf('b'));
    expect(device).toMatchObject({
      health: 'degraded',
      healthAt: new Date(windowOf('b', 4).start + 60_000).toISOString(),
      metrics: { 'memory.used_mib': { p95: 422 } },
      anomaly: null,
    });
  });

  it('filters a site by health (bySite index)', async () => {
    expect(await allDevices({ site, health: 'degraded' })).toEqual([idOf('b')]);
    expect(await allDevices({ site, health: 'unknown' })).toEqual([]);
  });

  it('lists one exact cohort page by page through byCohort, each device once', async () => {
    const pages: number[] = [];
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api('viewer').listDevices({
        region,
        site,
        hardwareType: 'rpi4',
        version: OLD,
        limit: 1,
        ...(cursor ? { cursor } : {}),
      });
      pages.push(page.items.length);
      seen.push(...page.items.map((d) => d.deviceId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen.sort()).toEqual([idOf('a'), idOf('b'), idOf('c')]);
    expect(Math.max(...pages)).toBe(1);
  });

  it('filters by version and connection state without a site (Scan of the device index)', async () => {
    const onNew = await allDevices({ hardwareType: 'rpi4', version: NEW, limit: 100 });
    expect(onNew).toContain(idOf('d'));
    expect(onNew).not.toContain(idOf('a'));
    expect(await allDevices({ site, connectionState: 'connected' })).toEqual(
      ['a', 'b', 'c', 'd'].map((n) => idOf(n as 'a')),
    );
    expect(await allDevices({ site, connectionState: 'disconnected' })).toEqual([]);
  });

  it('refuses a cursor from another read', async () => {
    const page = await api('viewer').listDevices({ site, limit: 1 });
    const { status, body } = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      `devices?site=other-${site}&limit=1&cursor=${page.nextCursor}`,
    );
    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toEqual(['cursor']);
  });

  it.each([
    ['health=sick', 'health'],
    ['connectionState=online', 'connectionState'],
    ['anomalous=false', 'anomalous'],
    ['version=1.0%20beta', 'version'],
    ['limit=101', 'limit'],
  ])('answers 400 naming the field for %s', async (query, field) => {
    const { status, body } = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      `devices?${query}`,
    );
    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain(field);
  });

  it('answers 400 naming an unknown parameter', async () => {
    const { status, body } = await api('viewer').request<{ message: string }>(
      'GET',
      'devices?helth=degraded',
    );
    expect(status).toBe(400);
    expect(body.message).toMatch(/helth/);
  });
});

describe('GET /devices/{deviceId}/telemetry', () => {
  it('returns the windows of every batch newest first, and those since a time', async () => {
    const all = await api('viewer').deviceTelemetry(idOf('a'));
    expect(all.windows.map((w) => w.seq)).toEqual([4, 3, 2, 1, 0]);
    expect(all.windows[0]).toMatchObject({
      start: new Date(windowOf('a', 4).start).toISOString(),
      health: 'healthy',
    });

    const recent = await api('viewer').deviceTelemetry(idOf('a'), {
      since: new Date(windowOf('a', 2).start),
    });
    expect(recent.windows.map((w) => w.seq)).toEqual([4, 3, 2]);
    expect((await api('viewer').deviceTelemetry(idOf('a'), { limit: 2 })).windows.map((w) => w.seq)).toEqual([
      4, 3,
    ]);
  });

  it("returns the device's alerts", async () => {
    const { alerts } = await eventually(async () => {
      const t = await api('viewer').deviceTelemetry(idOf('b'));
      return t.alerts.length > 0 ? t : undefined;
    });
    expect(alerts).toEqual([
      expect.objectContaining({
        alertId: alert.alertId,
        state: 'raised',
        at: new Date(raisedAt).toISOString(),
        value: 88,
      }),
    ]);
    const later = await api('viewer').deviceTelemetry(idOf('b'), { since: new Date(raisedAt + 1000) });
    expect(later.alerts).toEqual([]);
  });

  it('answers 404 for an unknown device and 400 for a bad since', async () => {
    expect((await api('viewer').request('GET', `devices/${site}-ghost/telemetry`)).status).toBe(404);
    const { status, body } = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      `devices/${idOf('a')}/telemetry?since=yesterday`,
    );
    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toEqual(['since']);
  });
});

describe('after the fleet analysis', () => {
  beforeAll(async () => {
    const sfn = jsonCall('states', 'SFN', 'AWSStepFunctions');
    const name = `e2e-${site}`;
    const started = await sfn<{ executionArn: string }>('StartExecution', {
      stateMachineArn: outputs().FleetAnalysisStateMachineArn,
      name,
      input: '{}',
    });
    // A run goes on in further executions (`<name>-part<n>`; locally one cohort each, and other
    // tests' cohorts come first or after ours): follow it to the one that ends with the totals.
    for (let part = 0; ; part++) {
      const executionArn = part === 0 ? started.executionArn : `${started.executionArn}-part${part}`;
      const done = await eventually(async () => {
        const d = await sfn<{ status: string; output?: string }>('DescribeExecution', { executionArn });
        return d.status === 'RUNNING' ? undefined : d;
      }, 120_000);
      expect(done.status, name).toBe('SUCCEEDED');
      if ((JSON.parse(done.output ?? '{}') as { totals?: unknown }).totals !== undefined) break;
    }
  }, 600_000);

  it('summarizes the site by version from the cohort statistics, with their freshness', async () => {
    const summary = await api('viewer').fleetSummary(['site', 'version']);
    const mine = summary.groups.filter((g) => g.key.site === site);

    expect(mine.map((g) => [g.key.version, g.devices, g.connected, g.health])).toEqual([
      [OLD, 3, 3, { healthy: 2, degraded: 1, unhealthy: 0, unknown: 0 }],
      [NEW, 1, 1, { healthy: 0, degraded: 0, unhealthy: 1, unknown: 0 }],
    ]);
    expect(Date.now() - Date.parse(mine[0]?.analyzedAt ?? '')).toBeLessThan(5 * 60_000);
    expect(summary.analyzedAt).not.toBeNull();
  });

  it('splits the counts by health', async () => {
    const summary = await api('viewer').fleetSummary(['site', 'health']);
    expect(summary.groups.filter((g) => g.key.site === site).map((g) => [g.key.health, g.devices])).toEqual([
      ['degraded', 1],
      ['healthy', 2],
      ['unhealthy', 1],
    ]);
  });

  it('answers 400 naming groupBy for an unknown field', async () => {
    const { status, body } = await api('viewer').request<{ errors: { field: string; message: string }[] }>(
      'GET',
      'fleet/summary?groupBy=site,colour',
    );
    expect(status).toBe(400);
    expect(body.errors).toEqual([
      expect.objectContaining({ field: 'groupBy', message: expect.stringMatching(/colour/) }),
    ]);
  });

  it('exports the cohort statistics in the Prometheus text format to a viewer token only', async () => {
    const url = new URL('fleet/metrics', context().apiUrl);
    const response = await fetch(url, { headers: { authorization: context().tokens.viewer } });
    const text = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const labels = `region="${region}",site="${site}",hardware_type="rpi4",version="${OLD}"`;
    expect(text).toContain(`edgeops_cohort_devices{${labels}} 3\n`);
    expect(text).toContain(`edgeops_cohort_health{${labels},state="degraded"} 1\n`);
    expect(text).toMatch(
      new RegExp(
        `edgeops_cohort_metric_median\\{${labels.replace(/[.]/g, '\\.')},metric="memory\\.used_mib"\\} \\d+`,
      ),
    );
    expect((await fetch(url)).status).toBe(401);
  });
});

describe('the Prometheus token sidecar (examples/prometheus/token-refresher.mjs)', () => {
  it('signs a viewer machine user in, and its token scrapes /fleet/metrics as Bearer', async () => {
    const scraper = await createOperator(
      context().outputs,
      `scraper-${site}`,
      'viewer',
      new CognitoIdentityProviderClient(local()),
    );
    const refresher = (await import(
      new URL('../../examples/prometheus/token-refresher.mjs', import.meta.url).href
    )) as { signIn: (env: Record<string, string>) => Promise<{ IdToken: string; RefreshToken: string }> };

    const result = await refresher.signIn({
      COGNITO_ENDPOINT: context().endpoint,
      COGNITO_CLIENT_ID: outputs().UserPoolClientId ?? '',
      SCRAPER_USERNAME: scraper.username,
      SCRAPER_PASSWORD: scraper.password,
    });

    const response = await fetch(new URL('fleet/metrics', context().apiUrl), {
      headers: { authorization: `Bearer ${result.IdToken}` },
    });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain('edgeops_cohort_devices{');
  });
});

describe('flagged devices', () => {
  beforeAll(async () => {
    // The shape the analysis writes (functions/adapters/dynamodb-anomaly-store.ts), seeded.
    const anomaly = {
      metric: 'memory.used_mib',
      score: 8.4,
      value: 980,
      cohortMedian: 420,
      since: new Date().toISOString(),
      cohort: `${region}#${site}#rpi4#${OLD}`,
      calmRuns: 0,
    };
    const table = outputs().FleetTableName;
    await dynamo().send(
      new UpdateCommand({
        TableName: table,
        Key: { pk: `DEVICE#${idOf('c')}`, sk: 'DEVICE' },
        UpdateExpression: 'SET anomaly = :anomaly',
        ExpressionAttributeValues: { ':anomaly': anomaly },
      }),
    );
    await dynamo().send(
      new PutCommand({
        TableName: table,
        Item: { pk: 'ANOMALIES', sk: idOf('c'), entity: 'anomaly', ...anomaly },
      }),
    );
  });

  it('lists the ANOMALIES partition', async () => {
    const page = await api('viewer').listAnomalies({ limit: 100 });
    expect(page.items).toContainEqual(
      expect.objectContaining({
        deviceId: idOf('c'),
        metric: 'memory.used_mib',
        score: 8.4,
        cohortMedian: 420,
      }),
    );
  });

  it('lists anomalous devices of a site, with the metric and score in the view', async () => {
    const { items } = await api('viewer').listDevices({ anomalous: true, site });
    expect(items.map((d) => [d.deviceId, d.anomaly?.metric, d.anomaly?.score])).toEqual([
      [idOf('c'), 'memory.used_mib', 8.4],
    ]);
    expect((await api('viewer').listDevices({ anomalous: true, site: `${site}-none` })).items).toEqual([]);
  });
});
