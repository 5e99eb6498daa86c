import { Aws, Duration, Stack, Validations } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnPolicy, CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';

export interface DeviceGatewayProps {
  readonly fleet: FleetStore;
}

/** The device's own id inside IoT policies: the thing attached to the certificate that connected. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT policy variable, resolved by AWS IoT at connect time.
const THING = '${iot:Connection.Thing.ThingName}';

/**
 * Where devices meet the control plane over MQTT: the device policy every certificate gets, and
 * the topic rules that carry shadow reports and connect/disconnect events into the fleet store.
 * A rule action that fails, or an ingest Lambda that keeps failing, lands in the dead-letter queue.
 */
export class DeviceGateway extends Construct {
  public readonly devicePolicyName: string;
  public readonly deadLetterQueue: IQueue;
  public readonly shadowReportFunction: IFunction;
  public readonly connectionEventFunction: IFunction;
  readonly #ruleErrorRole: IRole;
  readonly #fleetTableName: string;

  constructor(scope: Construct, id: string, props: DeviceGatewayProps) {
    super(scope, id);
    this.#fleetTableName = props.fleet.table.tableName;
    const arn = (resource: string) => `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const ownTopics = (kind: 'topic' | 'topicfilter') => [
      arn(`${kind}/$aws/things/${THING}/shadow/*`),
      arn(`${kind}/$aws/things/${THING}/jobs/*`),
      arn(`${kind}/edgeops/devices/${THING}/*`),
    ];
    const policy = new CfnPolicy(this, 'DevicePolicy', {
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: arn(`client/${THING}`),
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          { Effect: 'Allow', Action: 'iot:Publish', Resource: ownTopics('topic') },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: ownTopics('topic') },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: ownTopics('topicfilter') },
        ],
      },
    });
    this.devicePolicyName = policy.ref;

    const deadLetterQueue = new Queue(this, 'DeadLetters', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the device ingest path.',
    });
    this.deadLetterQueue = deadLetterQueue;

    const ruleErrorRole = new Role(this, 'RuleErrorRole', {
      assumedBy: new ServicePrincipal('iot.amazonaws.com'),
    });
    ruleErrorRole.addToPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [deadLetterQueue.queueArn] }),
    );

    this.#ruleErrorRole = ruleErrorRole;

    this.shadowReportFunction = this.routeToLambda(
      'ShadowReport',
      'device-events/record-shadow-report.handler.ts',
      "SELECT *, topic(3) AS thingName FROM '$aws/things/+/shadow/update/accepted' WHERE NOT isUndefined(state.reported)",
    );
    this.connectionEventFunction = this.routeToLambda(
      'ConnectionEvent',
      'device-events/record-connection-event.handler.ts',
      "SELECT * FROM '$aws/events/presence/+/+' WHERE eventType = 'connected' OR eventType = 'disconnected'",
    );
    props.fleet.grantItems(this.shadowReportFunction, 'UpdateItem');
    props.fleet.grantItems(this.connectionEventFunction, 'UpdateItem');
  }

  /**
   * A topic rule that invokes a new Lambda with what `sql` selects. Failed rule actions and
   * events the Lambda still fails on after two retries land in the dead-letter queue. The
   * caller grants the function what it needs.
   */
  routeToLambda(name: string, handlerFile: string, sql: string, environment: Record<string, string> = {}) {
    const fn = new EdgeOpsFunction(this, `${name}Function`, {
      handlerFile,
      environment: { FLEET_TABLE_NAME: this.#fleetTableName, ...environment },
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 2,
    });
    const rule = new CfnTopicRule(this, `${name}Rule`, {
      topicRulePayload: {
        sql,
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        actions: [{ lambda: { functionArn: fn.functionArn } }],
        errorAction: {
          sqs: { queueUrl: this.deadLetterQueue.queueUrl, roleArn: this.#ruleErrorRole.roleArn },
        },
      },
    });
    fn.addPermission(`${name}RuleInvoke`, {
      principal: new ServicePrincipal('iot.amazonaws.com'),
      sourceArn: rule.attrArn,
      sourceAccount: Stack.of(this).account,
    });
    return fn;
  }
}
