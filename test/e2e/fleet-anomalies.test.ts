/**
 * The fleet analysis end to end against local AWS: 24 registered devices of one cohort send
 * telemetry over MQTT through the real ingest path (rule → SQS → Lambda → fleet table); three of
 * them drift (a memory leak, a hot CPU, a noisy link). Each round publishes the next window of
 * every device, then starts the analysis state machine by hand (local stage: no schedule).
 */
import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeTelemetryBatch, TELEMETRY_TOPIC, type TelemetryWindowV1 } from '../../contract/telemetry';
import { AwsService } from '../../functions/shared/aws-api/aws-service';
import type { Registration } from '../../operator-client/operator-api-client';
import { LOCAL_AWS_ENV } from '../../scripts/local-aws/ministack';
import { api, context, eventually } from './support';

const DEVICES = 24;
/** A second cohort, too small to score (same site, newer firmware), whose one device leaks. */
const SMALL = 3;
const SMALL_FIRMWARE = '3.2.0';
const SMALL_LEAKING = DEVICES;
const RUNS = 3;
const FIRMWARE = '3.1.0';
const LEAKING = 3;
const HOT = 8;
const NOISY = 15;

/** The stack outputs this test reads (the typed StackOutputs lists only some). */
const outputs = () =>
  context().outputs as unknown as { FleetTableName: string; FleetAnalysisStateMachineArn: string };
const local = () => ({
  endpoint: context().endpoint,
  region: LOCAL_AWS_ENV.AWS_REGION,
  credentials: {
    accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  },
});

/** AwsService reads the endpoint, region and credentials from the environment, as Lambda sets them. */
function useLocalAwsEnvironment() {
  Object.assign(process.env, LOCAL_AWS_ENV, { AWS_ENDPOINT_URL: context().endpoint });
}

const jsonCall = (signingName: string, endpointId: string, target: string, version: '1.0' | '1.1') => {
  const service = new AwsService({ signingName, endpointId, host: () => 'unused' });
  return <T>(operation: string, input: object) =>
    service.sendJson<T>({
      method: 'POST',
      path: '/',
      headers: {
        'x-amz-target': `${target}.${operation}`,
        'content-type': `application/x-amz-json-${version}`,
      },
      body: JSON.stringify(input),
    });
};

const sfn = () => jsonCall('states', 'SFN', 'AWSStepFunctions', '1.0');
const events = () => jsonCall('events', 'EventBridge', 'AWSEvents', '1.1');

/** CloudWatch in its JSON protocol (local AWS filters ListMetrics by dimensions only in it). */
const cloudWatch = () => jsonCall('monitoring', 'CLOUDWATCH', 'GraniteServiceVersion20100801', '1.0');

/** Deterministic noise in [-1, 1] per device and round. */
const noise = (device: number, round: number) => Math.sin(device * 12.9898 + round * 78.233);

const aggregate = (value: number) => ({
  count: 6,
  min: value,
  max: value,
  mean: value,
  p95: value,
  sum: value,
});

/** The window a device reports in a round, ending now. */
function windowOf(device: number, round: number): TelemetryWindowV1 {
  const leaking = device === LEAKING || device === SMALL_LEAKING;
  const memory = leaking ? 820 + 40 * round : 410 + 6 * noise(device, round);
  const cpu = device === HOT ? 96 : 28 + 4 * noise(device + 1, round);
  const reconnects = device === NOISY ? 18 : noise(device + 2, round) > 0.92 ? 1 : 0;
  return {
    seq: round,
    start: Date.now() - 60_000,
    seconds: 60,
    firmwareVersion: device < DEVICES ? FIRMWARE : SMALL_FIRMWARE,
    health: 'healthy',
    metrics: {
      'memory.used_mib': aggregate(memory),
      'cpu.percent': aggregate(cpu),
      'temperature.celsius': aggregate(52 + 1.5 * noise(device + 3, round)),
      'link.reconnects': { ...aggregate(reconnects), count: 1 },
      'process.restarts': { ...aggregate(0), count: 1 },
    },
  };
}

describe('fleet analysis: devices unlike their peers', () => {
  const site = `fa-${randomBytes(3).toString('hex')}`;
  const cohort = `eu-west#${site}#rpi4#${FIRMWARE}`;
  const smallCohort = `eu-west#${site}#rpi4#${SMALL_FIRMWARE}`;
  const registrations: Registration[] = [];
  const clients: MqttClient[] = [];
  const executions: { name: string; startDate: string }[] = [];
  const dynamo = () => DynamoDBDocumentClient.from(new DynamoDBClient(local()));
  let sqs: SQSClient;
  let queueUrl = '';
  const seen: { 'detail-type'?: string; source?: string; detail: Record<string, string> }[] = [];
  const ruleName = `fleet-anomalies-${site}`;

  const deviceItem = async (deviceId: string) =>
    (
      await dynamo().send(
        new GetCommand({
          TableName: outputs().FleetTableName,
          Key: { pk: `DEVICE#${deviceId}`, sk: 'DEVICE' },
        }),
      )
    ).Item;

  async function publishRound(round: number) {
    await Promise.all(
      clients.map((client, i) =>
        client.publishAsync(
          TELEMETRY_TOPIC(registrations[i]?.device.deviceId ?? ''),
          JSON.stringify(encodeTelemetryBatch([windowOf(i, round)])),
          { qos: 1 },
        ),
      ),
    );
    // Ingested: every device's latest window is this round's, in its cohort.
    await eventually(async () => {
      const items = await Promise.all(registrations.map((r) => deviceItem(r.device.deviceId)));
      return items.every(
        (item, i) => item?.telemetrySeq === round && item?.cohort === (i < DEVICES ? cohort : smallCohort),
      )
        ? true
        : undefined;
    }, 90_000);
  }

  /** Waits for an execution (by name) to end; it may not have started yet. */
  async function finished(name: string) {
    const executionArn = `${outputs().FleetAnalysisStateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`;
    const done = await eventually(async () => {
      const d = await sfn()<{ status: string; output?: string; startDate: number }>('DescribeExecution', {
        executionArn,
      });
      return d.status === 'RUNNING' ? undefined : d;
    }, 90_000);
    expect(done.status, name).toBe('SUCCEEDED');
    return {
      // Epoch seconds in the API; the state machine sees it as ISO ($$.Execution.StartTime).
      startDate: new Date(Math.round(done.startDate * 1000)).toISOString(),
      output: JSON.parse(done.output ?? '{}') as { totals?: Record<string, number> },
    };
  }

  /**
   * One analysis run: starts the state machine and follows the run through the executions it
   * goes on in (the local stage: one cohort a page, one page an execution) to its totals.
   */
  async function runAnalysis() {
    const name = `e2e-${site}-${executions.length}-${randomBytes(2).toString('hex')}`;
    await sfn()('StartExecution', {
      stateMachineArn: outputs().FleetAnalysisStateMachineArn,
      name,
      input: '{}',
    });
    const first = await finished(name);
    executions.push({ name, startDate: first.startDate });
    let last = first;
    let parts = 1;
    while (last.output.totals === undefined) {
      last = await finished(`${name}-part${parts}`);
      parts++;
    }
    return { totals: last.output.totals, parts };
  }

  /**
   * Runs the cohort's step of an analysis again, as Step Functions would retry it: the same run
   * id and time, the devices as they now are. Answers the step's summary.
   */
  async function repeatCohortStep(execution: { name: string; startDate: string }) {
    const described = await sfn()<{ definition: string }>('DescribeStateMachine', {
      stateMachineArn: outputs().FleetAnalysisStateMachineArn,
    });
    const functionName = /:function:([^"]*CohortAnalysis[^"]*)"/.exec(described.definition)?.[1];
    if (!functionName) throw new Error(`No CohortAnalysis function in ${described.definition}`);
    const lambda = new AwsService({ signingName: 'lambda', endpointId: 'LAMBDA', host: () => 'unused' });
    const response = await lambda.send({
      method: 'POST',
      path: `/2015-03-31/functions/${encodeURIComponent(functionName)}/invocations`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        cohort: { cohort, region: 'eu-west', site, hardwareType: 'rpi4', version: FIRMWARE },
        runId: execution.name,
        analyzedAt: execution.startDate,
      }),
    });
    return JSON.parse(await response.text()) as Record<string, unknown>;
  }

  beforeAll(async () => {
    useLocalAwsEnvironment();
    sqs = new SQSClient(local());
    // A rule that delivers the analysis's events to a queue of the test's own.
    const queue = await sqs.send(new CreateQueueCommand({ QueueName: ruleName }));
    queueUrl = queue.QueueUrl ?? '';
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
    );
    const queueArn = Attributes?.QueueArn ?? '';
    const { RuleArn } = await events()<{ RuleArn: string }>('PutRule', {
      Name: ruleName,
      EventPattern: JSON.stringify({
        source: ['edgeops.fleet'],
        'detail-type': [{ prefix: 'Device Anomaly' }],
      }),
    });
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: queueUrl,
        Attributes: {
          Policy: JSON.stringify({
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { Service: 'events.amazonaws.com' },
                Action: 'sqs:SendMessage',
                Resource: queueArn,
                Condition: { ArnEquals: { 'aws:SourceArn': RuleArn } },
              },
            ],
          }),
        },
      }),
    );
    await events()('PutTargets', { Rule: ruleName, Targets: [{ Id: 'queue', Arn: queueArn }] });

    for (let i = 0; i < DEVICES + SMALL; i++) {
      registrations.push(
        await api().registerDevice({
          deviceId: `${site}-${String(i).padStart(2, '0')}`,
          hardwareType: 'rpi4',
          site,
          region: 'eu-west',
        }),
      );
    }
    const { mqtt: broker } = context();
    for (const r of registrations) {
      clients.push(
        await mqtt.connectAsync({
          protocol: 'mqtts',
          host: broker.host,
          port: broker.port,
          ca: broker.ca,
          cert: r.credentials.certificatePem,
          key: r.credentials.privateKey,
          clientId: r.device.deviceId,
          protocolVersion: 5,
          reconnectPeriod: 0,
          connectTimeout: 10_000,
        }),
      );
    }
  }, 300_000);

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await events()('RemoveTargets', { Rule: ruleName, Ids: ['queue'] }).catch(() => {});
    await events()('DeleteRule', { Name: ruleName }).catch(() => {});
    if (queueUrl) await sqs?.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
  });

  it(`flags the leaking, hot and noisy devices after ${RUNS} analyses, and none of the healthy ones`, async () => {
    let output: Awaited<ReturnType<typeof runAnalysis>> | undefined;
    for (let round = 0; round < RUNS; round++) {
      await publishRound(round);
      output = await runAnalysis();
      const flaggedSoFar = await dynamo().send(
        new QueryCommand({
          TableName: outputs().FleetTableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :site)',
          ExpressionAttributeValues: { ':pk': 'ANOMALIES', ':site': site },
        }),
      );
      expect(flaggedSoFar.Items ?? []).toHaveLength(round < RUNS - 1 ? 0 : 3);
      if (round === 0) {
        // A retried step of the first run: the drifting devices' streaks stay at 1.
        const execution = executions[0];
        if (!execution) throw new Error('no analysis ran');
        const repeated = await repeatCohortStep(execution);
        expect(repeated).toMatchObject({ deviceWrites: 0, scored: true, devices: DEVICES });
        const leaking = await deviceItem(registrations[LEAKING]?.device.deviceId ?? '');
        expect(leaking).toMatchObject({
          anomalyStreak: { 'memory.used_mib': 1 },
          anomalyRun: execution.name,
        });
      }
    }

    const id = (i: number) => registrations[i]?.device.deviceId ?? '';
    const anomalies = await dynamo().send(
      new QueryCommand({
        TableName: outputs().FleetTableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :site)',
        ExpressionAttributeValues: { ':pk': 'ANOMALIES', ':site': site },
      }),
    );
    expect(Object.fromEntries((anomalies.Items ?? []).map((a) => [a.sk, a.metric]))).toEqual({
      [id(LEAKING)]: 'memory.used_mib',
      [id(HOT)]: 'cpu.percent',
      [id(NOISY)]: 'link.reconnects',
    });
    const leak = (anomalies.Items ?? []).find((a) => a.sk === id(LEAKING));
    expect(leak).toMatchObject({
      cohort,
      since: executions[RUNS - 1]?.startDate,
      value: 820 + 40 * (RUNS - 1),
    });
    expect(leak?.score).toBeGreaterThan(3.5);

    for (let i = 0; i < DEVICES; i++) {
      const item = await deviceItem(id(i));
      if ([LEAKING, HOT, NOISY].includes(i)) expect(item?.anomaly?.metric, id(i)).toBeDefined();
      else expect(item?.anomaly, id(i)).toBeUndefined();
    }
    expect(output?.totals?.anomalous).toBeGreaterThanOrEqual(3);
    // Two cohorts, one a page, one page an execution: the run went on in a second execution.
    expect(output?.parts).toBeGreaterThanOrEqual(2);
  });

  it("writes the cohort's statistics onto its COHORTS entry", async () => {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: outputs().FleetTableName, Key: { pk: 'COHORTS', sk: cohort } }),
    );
    expect(Item).toMatchObject({
      site,
      devices: DEVICES,
      fresh: DEVICES,
      anomalous: 3,
      scored: true,
      analyzedAt: executions.at(-1)?.startDate,
      health: { healthy: DEVICES, degraded: 0, unhealthy: 0, unknown: 0 },
    });
    expect(Item?.metrics?.['memory.used_mib']?.median).toBeGreaterThan(400);
    expect(Item?.metrics?.['memory.used_mib']?.median).toBeLessThan(420);
  });

  it('does not score the cohort with fewer than 20 devices, but writes its statistics', async () => {
    const { Item } = await dynamo().send(
      new GetCommand({ TableName: outputs().FleetTableName, Key: { pk: 'COHORTS', sk: smallCohort } }),
    );
    expect(Item).toMatchObject({ devices: SMALL, fresh: SMALL, scored: false, anomalous: 0 });
    const leaking = await deviceItem(registrations[SMALL_LEAKING]?.device.deviceId ?? '');
    expect(leaking?.metrics?.['memory.used_mib']?.p95).toBeGreaterThan(800);
    expect(leaking?.anomalyStreak).toBeUndefined();
    expect(leaking?.anomaly).toBeUndefined();
  });

  it('delivers Device Anomaly Flagged events to a rule on the default bus', async () => {
    const flagged = await eventually(async () => {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      const bodies = Messages.map((m) => JSON.parse(m.Body ?? '{}'));
      seen.push(...bodies);
      const ours = seen.filter(
        (e) => e['detail-type'] === 'Device Anomaly Flagged' && e.detail?.cohort === cohort,
      );
      return new Set(ours.map((e) => e.detail.deviceId)).size >= 3 ? ours : undefined;
    }, 30_000);
    expect(flagged[0]).toMatchObject({ source: 'edgeops.fleet' });
    expect(new Set(flagged.map((e) => `${e.detail.deviceId} ${e.detail.metric}`))).toEqual(
      new Set([
        `${registrations[LEAKING]?.device.deviceId} memory.used_mib`,
        `${registrations[HOT]?.device.deviceId} cpu.percent`,
        `${registrations[NOISY]?.device.deviceId} link.reconnects`,
      ]),
    );
  });

  it('puts the cohort figures and the fleet totals in CloudWatch', async () => {
    type Listed = { Metrics: { MetricName: string; Dimensions: { Name: string; Value: string }[] }[] };
    const cohortMetrics = await cloudWatch()<Listed>('ListMetrics', {
      Namespace: 'EdgeOps/Fleet',
      Dimensions: [{ Name: 'Site', Value: site }],
    });
    expect(new Set(cohortMetrics.Metrics.map((m) => m.MetricName))).toEqual(
      new Set([
        'Devices',
        'HealthyPercent',
        'UnhealthyDevices',
        'Connected',
        'AnomalousDevices',
        'MemoryP95MiB',
        'CpuP95Percent',
      ]),
    );
    const dimensions = (version: string) => [
      { Name: 'Site', Value: site },
      { Name: 'HardwareType', Value: 'rpi4' },
      { Name: 'Version', Value: version },
    ];
    for (const m of cohortMetrics.Metrics)
      expect([dimensions(FIRMWARE), dimensions(SMALL_FIRMWARE)]).toContainEqual(m.Dimensions);

    const now = Date.now() / 1000;
    const stat = (id: string, metricName: string, metricDimensions: { Name: string; Value: string }[]) => ({
      Id: id,
      MetricStat: {
        Metric: { Namespace: 'EdgeOps/Fleet', MetricName: metricName, Dimensions: metricDimensions },
        Period: 60,
        Stat: 'Maximum',
      },
    });
    const data = await cloudWatch()<{ MetricDataResults: { Id: string; Values: number[] }[] }>(
      'GetMetricData',
      {
        StartTime: now - 30 * 60,
        EndTime: now + 60,
        MetricDataQueries: [
          stat('devices', 'Devices', dimensions(FIRMWARE)),
          stat('anomalous', 'AnomalousDevices', dimensions(FIRMWARE)),
          stat('small', 'Devices', dimensions(SMALL_FIRMWARE)),
        ],
      },
    );
    const values = (id: string) => data.MetricDataResults.find((r) => r.Id === id)?.Values ?? [];
    expect(values('devices')).toContain(DEVICES);
    expect(values('anomalous')).toContain(3);
    expect(values('small')).toContain(SMALL);

    const fleet = await cloudWatch()<Listed>('ListMetrics', { Namespace: 'EdgeOps/Fleet' });
    const totals = fleet.Metrics.filter((m) => m.Dimensions.length === 0).map((m) => m.MetricName);
    expect(new Set(totals)).toEqual(
      new Set([
        'Devices',
        'UnhealthyDevices',
        'UnhealthyPercent',
        'AnomalousDevices',
        'DisconnectedPercent',
        'FailedCohorts',
      ]),
    );
  });
});
