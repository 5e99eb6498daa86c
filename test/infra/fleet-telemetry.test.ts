import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  asList,
  functionGrants,
  functionId,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  statementsOf,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');

const ROUTES = [
  { name: 'Telemetry', sql: "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/telemetry'" },
  { name: 'Alert', sql: "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/alerts'" },
] as const;
const CONSUME = [
  'ChangeMessageVisibility',
  'DeleteMessage',
  'GetQueueAttributes',
  'GetQueueUrl',
  'ReceiveMessage',
];
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

const queueOf = (stage: StageName, name: string) => {
  const ids = Object.keys(resourcesOfType(template(stage), 'AWS::SQS::Queue')).filter((id) =>
    id.startsWith(`DeviceGateway${name}Queue`),
  );
  expect(ids).toHaveLength(1);
  return String(ids[0]);
};
const mappingOf = (stage: StageName, name: string) => {
  const mappings = Object.values(resourcesOfType(template(stage), 'AWS::Lambda::EventSourceMapping')).filter(
    (m) => render(m.Properties?.EventSourceArn) === `<${queueOf(stage, name)}.Arn>`,
  );
  expect(mappings).toHaveLength(1);
  return mappings[0]?.Properties ?? {};
};
const fleetTable = (stage: StageName) => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
const telemetryBucket = (stage: StageName) => outputTarget(template(stage), 'TelemetryBucketName');
const single = (stage: StageName, type: string) => {
  const all = Object.values(resourcesOfType(template(stage), type));
  expect(all).toHaveLength(1);
  return all[0]?.Properties ?? {};
};

describe.each(STAGE_NAMES)('telemetry ingestion in the %s stage', (stage) => {
  it.each(ROUTES)(
    'routes $name with the thing name from the topic, added last, to its own queue',
    (route) => {
      const rules = Object.values(resourcesOfType(template(stage), 'AWS::IoT::TopicRule')).filter(
        (r) => (r.Properties?.TopicRulePayload as { Sql?: string } | undefined)?.Sql === route.sql,
      );

      expect(rules).toHaveLength(1);
      expect((rules[0]?.Properties?.TopicRulePayload as { Actions?: unknown } | undefined)?.Actions).toEqual([
        {
          Sqs: {
            QueueUrl: { Ref: queueOf(stage, route.name) },
            RoleArn: expect.anything(),
            UseBase64: false,
          },
        },
      ]);
      expect(mappingOf(stage, route.name).FunctionName).toEqual({
        Ref: functionId(template(stage), `${route.name}Function`),
      });
      expect(mappingOf(stage, route.name).FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    },
  );

  it('invokes the alert Lambda without a batching window, 10 alerts at most', () => {
    const mapping = mappingOf(stage, 'Alert');

    expect({ size: mapping.BatchSize, window: mapping.MaximumBatchingWindowInSeconds }).toEqual({
      size: 10,
      window: undefined,
    });
  });

  it('gives a telemetry batch at least 30 s, and hides it in flight six times that plus the window', () => {
    const fn = resource(template(stage), functionId(template(stage), 'TelemetryFunction'));
    const queue = resource(template(stage), queueOf(stage, 'Telemetry'));
    const window = Number(mappingOf(stage, 'Telemetry').MaximumBatchingWindowInSeconds ?? 0);

    expect(Number(fn.Properties?.Timeout)).toBe(stage === 'aws' ? 30 : 60);
    expect(Number(queue.Properties?.VisibilityTimeout)).toBe(6 * Number(fn.Properties?.Timeout) + window);
  });

  it('lets the telemetry Lambda put and update fleet items and put history objects, nothing more', () => {
    expect(functionGrants(template(stage), 'TelemetryFunction')).toEqual(
      [
        `dynamodb:PutItem on ${fleetTable(stage)}`,
        `dynamodb:UpdateItem on ${fleetTable(stage)}`,
        `s3:PutObject on <${telemetryBucket(stage)}.Arn>/history/*`,
        ...CONSUME.map((a) => `sqs:${a} on <${queueOf(stage, 'Telemetry')}.Arn>`),
        ...TRACING,
      ].sort(),
    );
  });

  it('lets the alert Lambda read the device, put the alert and send events to the default bus only', () => {
    expect(functionGrants(template(stage), 'AlertFunction')).toEqual(
      [
        `dynamodb:GetItem on ${fleetTable(stage)}`,
        `dynamodb:PutItem on ${fleetTable(stage)}`,
        'events:PutEvents on arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default',
        ...CONSUME.map((a) => `sqs:${a} on <${queueOf(stage, 'Alert')}.Arn>`),
        ...TRACING,
      ].sort(),
    );
  });

  it('passes the telemetry bucket to the telemetry Lambda', () => {
    const fn = resource(template(stage), functionId(template(stage), 'TelemetryFunction'));

    expect(
      (fn.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables
        ?.TELEMETRY_BUCKET_NAME,
    ).toEqual({ Ref: telemetryBucket(stage) });
  });

  it('indexes device items by cohort with what the analysis reads', () => {
    const table = resource(template(stage), outputTarget(template(stage), 'FleetTableName'));
    const index = asList(table.Properties?.GlobalSecondaryIndexes as { IndexName: string }[]).find(
      (i) => i.IndexName === 'byCohort',
    );

    expect(index).toEqual({
      IndexName: 'byCohort',
      KeySchema: [
        { AttributeName: 'cohort', KeyType: 'HASH' },
        { AttributeName: 'deviceId', KeyType: 'RANGE' },
      ],
      Projection: {
        ProjectionType: 'INCLUDE',
        NonKeyAttributes: [
          'health',
          'healthAt',
          'telemetrySeconds',
          'telemetryVersion',
          'metrics',
          'connectionState',
          'anomalyStreak',
          'anomaly',
        ],
      },
    });
  });
});

describe.each(STAGE_NAMES)('the telemetry bucket in the %s stage', (stage) => {
  const bucket = () => resource(template(stage), telemetryBucket(stage)).Properties ?? {};

  it('is encrypted, private and logs its access', () => {
    expect(bucket().BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(bucket().PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(
      render((bucket().LoggingConfiguration as { DestinationBucketName: unknown }).DestinationBucketName),
    ).toMatch(/^<TelemetryAccessLogs/);
  });

  it('refuses every request without TLS', () => {
    const denials = Object.values(resourcesOfType(template(stage), 'AWS::S3::BucketPolicy'))
      .filter((p) => render(p.Properties?.Bucket) === `<${telemetryBucket(stage)}>`)
      .flatMap((p) => statementsOf(p.Properties?.PolicyDocument))
      .filter((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false');

    expect(denials).toHaveLength(1);
  });

  it('expires history after 400 days and query results after 30', () => {
    expect((bucket().LifecycleConfiguration as { Rules: unknown[] }).Rules).toEqual([
      { Prefix: 'history/', ExpirationInDays: 400, Status: 'Enabled' },
      { Prefix: 'athena-results/', ExpirationInDays: 30, Status: 'Enabled' },
    ]);
  });
});

describe.each(STAGE_NAMES)('the telemetry history table in the %s stage', (stage) => {
  it('reads gzip JSON rows under history/ with the columns the ingest writes, dt projected', () => {
    const table = single(stage, 'AWS::Glue::Table') as {
      DatabaseName: string;
      TableInput: {
        Name: string;
        PartitionKeys: { Name: string; Type: string }[];
        Parameters: Record<string, unknown>;
        StorageDescriptor: {
          Location: unknown;
          SerdeInfo: unknown;
          Columns: { Name: string; Type: string }[];
        };
      };
    };
    const database = single(stage, 'AWS::Glue::Database') as { DatabaseInput: { Name: string } };
    const location = `s3://<${telemetryBucket(stage)}>/history/`;

    expect(table.DatabaseName).toBe(database.DatabaseInput.Name);
    expect(table.DatabaseName).toBe(outputTargetValue(stage, 'TelemetryGlueDatabase'));
    expect(table.TableInput.Name).toBe('telemetry_history');
    expect(render(table.TableInput.StorageDescriptor.Location)).toBe(location);
    expect(table.TableInput.StorageDescriptor.SerdeInfo).toEqual({
      SerializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe',
    });
    expect(table.TableInput.StorageDescriptor.Columns.map((c) => `${c.Name} ${c.Type}`)).toEqual([
      'device_id string',
      'seq bigint',
      'window_start string',
      'seconds int',
      'firmware_version string',
      'health string',
      'region string',
      'site string',
      'hardware_type string',
      'metrics map<string,struct<count:bigint,min:double,max:double,mean:double,p95:double,sum:double>>',
    ]);
    expect(table.TableInput.PartitionKeys).toMatchObject([{ Name: 'dt', Type: 'string' }]);
    expect({
      ...table.TableInput.Parameters,
      'storage.location.template': render(table.TableInput.Parameters['storage.location.template']),
    }).toMatchObject({
      'projection.enabled': 'true',
      'projection.dt.type': 'date',
      'projection.dt.format': 'yyyy-MM-dd',
      // Athena's projection template, verbatim.
      'storage.location.template': `${location}dt=\${dt}/`,
    });
  });

  it('has an Athena workgroup that writes encrypted results into the telemetry bucket, enforced', () => {
    const workGroup = single(stage, 'AWS::Athena::WorkGroup') as {
      Name: string;
      WorkGroupConfiguration: {
        EnforceWorkGroupConfiguration: boolean;
        ResultConfiguration: { OutputLocation: unknown; EncryptionConfiguration: unknown };
      };
    };

    expect(workGroup.Name).toBe(outputTargetValue(stage, 'TelemetryAthenaWorkGroup'));
    expect(workGroup.WorkGroupConfiguration.EnforceWorkGroupConfiguration).toBe(true);
    expect(render(workGroup.WorkGroupConfiguration.ResultConfiguration.OutputLocation)).toBe(
      `s3://<${telemetryBucket(stage)}>/athena-results/`,
    );
    expect(workGroup.WorkGroupConfiguration.ResultConfiguration.EncryptionConfiguration).toEqual({
      EncryptionOption: 'SSE_S3',
    });
  });
});

/** A stack output's literal value (names, not references). */
function outputTargetValue(stage: StageName, name: string): unknown {
  return (template(stage).toJSON().Outputs as Record<string, { Value: unknown }>)[name]?.Value;
}
