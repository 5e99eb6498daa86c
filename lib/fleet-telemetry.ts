import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { CfnWorkGroup } from 'aws-cdk-lib/aws-athena';
import { CfnDatabase, CfnTable } from 'aws-cdk-lib/aws-glue';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { HISTORY_PREFIX } from '../functions/adapters/s3-telemetry-history';
import { HISTORY_RETENTION_DAYS } from '../functions/domain/telemetry';
import { accessLogBucket } from './access-logs';
import type { DeviceEventRoute, DeviceGateway } from './device-gateway';
import type { FleetStore } from './fleet-store';
import { nagArn } from './nag';

export interface FleetTelemetryProps {
  readonly fleet: FleetStore;
  readonly gateway: DeviceGateway;
  /** @default RemovalPolicy.RETAIN: the history outlives the stack unless a stage says otherwise. */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * The telemetry Lambda's timeout. A batch of 100 messages × 120 windows is about 1.6 s of CPU on
   * one core (decode, check, gzip), over 5 s at 512 MB's share of one. @default 30 seconds
   */
  readonly telemetryTimeout?: Duration;
}

/** Where Athena writes query results in the telemetry bucket (encrypted, expired after 30 days). */
export const ATHENA_RESULTS_PREFIX = 'athena-results/';
/** The Glue table over the history objects. */
export const HISTORY_TABLE_NAME = 'telemetry_history';

/**
 * Device telemetry into the control plane (docs/architecture.md, "Telemetry and alerts"):
 * - Two device event routes on the gateway: telemetry batches (in batches, one history object per
 *   invocation) and alerts (no batching window, so an alert is in the fleet table and on the
 *   default EventBridge bus within seconds).
 * - A telemetry bucket of its own: the history as gzip'd NDJSON under `history/dt=<date>/`,
 *   expired after HISTORY_RETENTION_DAYS, encrypted, private, TLS only, with access logs.
 * - A Glue database and table over the history (JSON, partition projection on `dt`, so no
 *   partitions to add) and an Athena workgroup whose results go encrypted into the same bucket.
 */
export class FleetTelemetry extends Construct {
  public readonly bucket: IBucket;
  public readonly telemetry: DeviceEventRoute;
  public readonly alerts: DeviceEventRoute;
  public readonly databaseName: string;
  public readonly tableName = HISTORY_TABLE_NAME;
  public readonly workGroupName: string;

  constructor(scope: Construct, id: string, props: FleetTelemetryProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const stack = Stack.of(this);
    // Glue and Athena names are account-wide: the stack's name keeps two stacks apart.
    const prefix = stack.stackName.toLowerCase().replace(/[^a-z0-9]/g, '_');
    this.databaseName = `${prefix}_telemetry`;
    this.workGroupName = `${prefix}-telemetry`;

    const accessLogs = accessLogBucket(this, removalPolicy);
    const bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'telemetry/',
      lifecycleRules: [
        { prefix: HISTORY_PREFIX, expiration: Duration.days(HISTORY_RETENTION_DAYS) },
        { prefix: ATHENA_RESULTS_PREFIX, expiration: Duration.days(30) },
      ],
      removalPolicy,
    });
    this.bucket = bucket;

    this.telemetry = props.gateway.routeToQueue(
      'Telemetry',
      'device-events/record-telemetry.handler.ts',
      "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/telemetry'",
      { TELEMETRY_BUCKET_NAME: bucket.bucketName },
      { timeout: props.telemetryTimeout ?? Duration.seconds(30) },
    );
    // Without a batching window a mapping takes at most 10 messages: the first alert invokes at once.
    this.alerts = props.gateway.routeToQueue(
      'Alert',
      'device-events/record-alert.handler.ts',
      "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/alerts'",
      {},
      { batchSize: 10, maxBatchingWindow: Duration.seconds(0) },
    );

    // Latest health (UpdateItem), the device's cohort (UpdateItem), batches and cohort entries (PutItem).
    props.fleet.grantItems(this.telemetry.function, 'PutItem', 'UpdateItem');
    this.telemetry.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${HISTORY_PREFIX}*`)],
      }),
    );
    Validations.of(this.telemetry.function).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(this, bucket.bucketArn)}/${HISTORY_PREFIX}*]`,
      reason:
        'History object keys (history/dt=<date>/<invocation id>.json.gz) are made at run time; PutObject only.',
    });
    // The device's site, region and hardware type for the event (GetItem); the alert (PutItem).
    props.fleet.grantItems(this.alerts.function, 'GetItem', 'PutItem');
    this.alerts.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`],
      }),
    );

    // A shadow report moves its device to the reported version's cohort (DynamoDbFleetStore
    // recordReport): it reads the device's region, site and hardware type, and may create the
    // cohort's entry.
    props.fleet.grantItems(props.gateway.shadowReports.function, 'GetItem', 'PutItem');

    const database = new CfnDatabase(this, 'Database', {
      catalogId: Aws.ACCOUNT_ID,
      databaseInput: { name: this.databaseName, description: 'EdgeOps device telemetry history' },
    });
    const location = `s3://${bucket.bucketName}/${HISTORY_PREFIX}`;
    const table = new CfnTable(this, 'HistoryTable', {
      catalogId: Aws.ACCOUNT_ID,
      databaseName: this.databaseName,
      tableInput: {
        name: HISTORY_TABLE_NAME,
        description: 'One row per device telemetry window (functions/domain/telemetry.ts HistoryRow)',
        tableType: 'EXTERNAL_TABLE',
        partitionKeys: [{ name: 'dt', type: 'string', comment: 'ingest date, YYYY-MM-DD (UTC)' }],
        parameters: {
          EXTERNAL: 'TRUE',
          classification: 'json',
          compressionType: 'gzip',
          'projection.enabled': 'true',
          'projection.dt.type': 'date',
          'projection.dt.format': 'yyyy-MM-dd',
          'projection.dt.range': '2025-01-01,NOW',
          'projection.dt.interval': '1',
          'projection.dt.interval.unit': 'DAYS',
          // A partition projection template: Athena fills in `dt`.
          'storage.location.template': `${location}dt=\${dt}/`,
        },
        storageDescriptor: {
          location,
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          serdeInfo: { serializationLibrary: 'org.apache.hive.hcatalog.data.JsonSerDe' },
          columns: [
            { name: 'device_id', type: 'string' },
            { name: 'seq', type: 'bigint' },
            { name: 'window_start', type: 'string', comment: 'ISO 8601, UTC' },
            { name: 'seconds', type: 'int' },
            { name: 'firmware_version', type: 'string' },
            { name: 'health', type: 'string' },
            { name: 'region', type: 'string' },
            { name: 'site', type: 'string' },
            { name: 'hardware_type', type: 'string' },
            {
              name: 'metrics',
              type: 'map<string,struct<count:bigint,min:double,max:double,mean:double,p95:double,sum:double>>',
            },
          ],
        },
      },
    });
    table.node.addDependency(database);

    new CfnWorkGroup(this, 'WorkGroup', {
      name: this.workGroupName,
      description: 'Queries over the EdgeOps telemetry history',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        // 10 GiB: a runaway query over the whole history stops instead of scanning it all.
        bytesScannedCutoffPerQuery: 10 * 1024 ** 3,
        resultConfiguration: {
          outputLocation: `s3://${bucket.bucketName}/${ATHENA_RESULTS_PREFIX}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });
  }
}
