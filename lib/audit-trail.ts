import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';

export interface AuditTrailProps {
  /** @default RemovalPolicy.RETAIN: the trail outlives the stack unless a stage says otherwise. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The operator audit trail (functions/adapters/dynamodb-audit-trail.ts): its own table, so that
 * no function with item rights on the fleet table can touch it. Append-only by grant: writers get
 * PutItem (the adapter's puts are conditional, never replacing an entry), readers Query; nothing
 * in the stack gets UpdateItem, DeleteItem or BatchWriteItem, and entries leave only by TTL
 * (`expiresAt`). Point-in-time recovery and encryption are on, and an alarm fires when an entry
 * could not be written (the action it describes had already happened).
 */
export class AuditTrail extends Construct {
  /** The TTL attribute: DynamoDB removes an entry some time after this epoch second. */
  static readonly EXPIRES_AT_ATTRIBUTE = 'expiresAt';
  public readonly table: ITable;
  /** In ALARM when any audit entry failed to be written in the last 5 minutes. */
  public readonly writeFailureAlarm: Alarm;

  constructor(scope: Construct, id: string, props: AuditTrailProps = {}) {
    super(scope, id);
    this.table = new Table(this, 'Table', {
      partitionKey: { name: 'pk', type: AttributeType.STRING },
      sortKey: { name: 'sk', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: AuditTrail.EXPIRES_AT_ATTRIBUTE,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.writeFailureAlarm = new Alarm(this, 'WriteFailures', {
      alarmDescription:
        'An operator action was not written to the audit trail; its entry is in the Lambda log.',
      metric: new Metric({
        namespace: 'EdgeOps',
        metricName: 'AuditWriteFailures',
        dimensionsMap: { service: 'edgeops' },
        statistic: 'Sum',
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }

  /** PutItem only: what recording an entry needs. */
  grantAppend(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:PutItem'], resources: [this.table.tableArn] }),
    );
  }

  /** Query of the table only: what `GET /audit` needs. */
  grantRead(grantee: IGrantable): void {
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['dynamodb:Query'], resources: [this.table.tableArn] }),
    );
  }
}
