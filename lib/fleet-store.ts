import { RemovalPolicy } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

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
  public readonly table: ITable;

  constructor(scope: Construct, id: string, props: FleetStoreProps = {}) {
    super(scope, id);
    const table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    table.addGlobalSecondaryIndex({
      indexName: FleetStore.BY_SITE_INDEX,
      partitionKey: { name: 'site', type: AttributeType.STRING },
      sortKey: { name: 'deviceId', type: AttributeType.STRING },
    });
    this.table = table;
  }

  /** Item-level actions on the table itself, never on its indexes (Table.grant would add `index/*`). */
  grantItems(grantee: IGrantable, ...actions: string[]): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [this.table.tableArn] }),
    );
  }

  /** Scan of the table and Query of the table and its named index. */
  grantList(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:Query'],
        resources: [this.table.tableArn, `${this.table.tableArn}/index/${FleetStore.BY_SITE_INDEX}`],
      }),
    );
  }
}
