import { RemovalPolicy } from 'aws-cdk-lib';
import {
  AttributeType,
  BillingMode,
  type ITable,
  ProjectionType,
  Table,
  TableEncryption,
} from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { FAILED_BY_WAVE_INDEX } from '../functions/adapters/dynamodb-rollout-store';

export interface FleetStoreProps {
  /** @default RemovalPolicy.RETAIN: the registry outlives the stack unless a stage says otherwise. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The fleet table: one item per device (and later per rollout, wave and execution), keyed
 * `pk`/`sk`, with a sparse `bySite` index for listing a site's devices. Point-in-time recovery
 * and KMS encryption are always on.
 */
export class FleetStore extends Construct {
  static readonly BY_SITE_INDEX = 'bySite';
  /** The TTL attribute: DynamoDB deletes an item some time after this epoch second. */
  static readonly EXPIRES_AT_ATTRIBUTE = 'expiresAt';
  /** Sparse: only executions counted as failed or rolled back carry `failedKey` (rollout + wave). */
  static readonly FAILED_BY_WAVE_INDEX = FAILED_BY_WAVE_INDEX;
  /**
   * Sparse: device items by `cohort` (`<region>#<site>#<hardwareType>#<version>`, set by the
   * telemetry and shadow report ingest), with what the analysis and the cohort listings read.
   */
  static readonly BY_COHORT_INDEX = 'byCohort';
  public readonly table: ITable;

  constructor(scope: Construct, id: string, props: FleetStoreProps = {}) {
    super(scope, id);
    const table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      // Items that carry it (a rollout's per-device executions) expire then (epoch seconds).
      timeToLiveAttribute: FleetStore.EXPIRES_AT_ATTRIBUTE,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: FleetStore.BY_SITE_INDEX,
      partitionKey: { name: 'site', type: AttributeType.STRING },
      sortKey: { name: 'deviceId', type: AttributeType.STRING },
    });
    table.addGlobalSecondaryIndex({
      indexName: FleetStore.FAILED_BY_WAVE_INDEX,
      partitionKey: { name: 'failedKey', type: AttributeType.STRING },
      sortKey: { name: 'deviceId', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: ['reason', 'stage', 'jobStatus'],
    });
    table.addGlobalSecondaryIndex({
      indexName: FleetStore.BY_COHORT_INDEX,
      partitionKey: { name: 'cohort', type: AttributeType.STRING },
      sortKey: { name: 'deviceId', type: AttributeType.STRING },
      projectionType: ProjectionType.INCLUDE,
      nonKeyAttributes: [
        'health',
        'healthAt',
        'telemetrySeconds',
        'telemetryVersion',
        'metrics',
        'connectionState',
        'anomalyStreak',
        'anomaly',
      ],
    });
    this.table = table;
  }

  /** Item-level actions on the table itself, never on its indexes (Table.grant would add `index/*`). */
  grantItems(grantee: IGrantable, ...actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [this.table.tableArn] }),
    );
  }

  /**
   * Scan of the table and Query of the table and of the named indexes.
   * @default indexes [bySite]
   */
  grantList(grantee: IGrantable, indexes: readonly string[] = [FleetStore.BY_SITE_INDEX]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:Query'],
        resources: [this.table.tableArn, ...indexes.map((i) => `${this.table.tableArn}/index/${i}`)],
      }),
    );
  }
}

/**
 * Only Query in these partitions of the fleet table (`dynamodb:LeadingKeys`): each function reads
 * the partitions it answers from and nothing else of the table. On AWS; local AWS does not
 * evaluate the key, and an absent key satisfies ForAllValues.
 */
export const inPartitions = (...partitions: string[]) => ({
  'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': partitions },
});
