import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnPolicy, CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type IQueue, Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';

/** How the events of one kind go from their queue to their Lambda. */
export interface DeviceEventBatching {
  /** Events per invocation, at most (1–10 without a batching window, else up to 10,000). @default 100 */
  readonly batchSize?: number;
  /** How long the mapping gathers events before it invokes with fewer than `batchSize`. @default 2 seconds */
  readonly maxBatchingWindow?: Duration;
  /**
   * Batches of one event kind in flight at once (2–1000). It bounds the ingest path's write rate
   * into the fleet table and its share of the account's Lambda concurrency; a burst beyond it
   * waits in the queue instead of being throttled. @default 5
   */
  readonly maxConcurrency?: number;
  /**
   * The ingest Lambdas' timeout; each queue hides a batch in flight for six times as long plus
   * the window. A batch is a few hundred conditional writes at most. @default 15 seconds
   */
  readonly timeout?: Duration;
}

export interface DeviceGatewayProps {
  readonly fleet: FleetStore;
  /** @default 100 events per batch, a 2 s window, 5 batches of a kind at once, 15 s per batch */
  readonly batching?: DeviceEventBatching;
  /** Deny requests without TLS to its queues (the event queues and the dead-letter queue). @default true */
  readonly requireTls?: boolean;
}

/** One kind of device event: its queue and the Lambda that takes it from there in batches. */
export interface DeviceEventRoute {
  readonly queue: IQueue;
  readonly function: IFunction;
}

/** The device's own id inside IoT policies: the thing attached to the certificate that connected. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT policy variable, resolved by AWS IoT at connect time.
const THING = '${iot:Connection.Thing.ThingName}';

/** Receives of a message before SQS moves it to the dead-letter queue. */
const MAX_RECEIVE_COUNT = 5;

/**
 * Where devices meet the control plane over MQTT: the device policy every certificate gets, and
 * the routes that carry device events (shadow reports, connect/disconnect, and what other
 * constructs add) into the control plane. Each route is a topic rule that sends to a queue of
 * its own, and a Lambda that takes the queue in batches: events survive a burst or a failing
 * Lambda, and one invocation serves many events. A rule action that fails, and an event that
 * still fails after 5 receives, land in the dead-letter queue.
 */
export class DeviceGateway extends Construct {
  public readonly devicePolicyName: string;
  public readonly deadLetterQueue: IQueue;
  public readonly shadowReports: DeviceEventRoute;
  public readonly connectionEvents: DeviceEventRoute;
  readonly #ruleErrorRole: IRole;
  readonly #fleetTableName: string;
  readonly #batching: Required<DeviceEventBatching>;
  readonly #requireTls: boolean;

  constructor(scope: Construct, id: string, props: DeviceGatewayProps) {
    super(scope, id);
    this.#fleetTableName = props.fleet.table.tableName;
    this.#requireTls = props.requireTls ?? true;
    this.#batching = {
      batchSize: props.batching?.batchSize ?? 100,
      maxBatchingWindow: props.batching?.maxBatchingWindow ?? Duration.seconds(2),
      maxConcurrency: props.batching?.maxConcurrency ?? 5,
      timeout: props.batching?.timeout ?? Duration.seconds(15),
    };
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

    const deadLetterQueue = this.#queue('DeadLetters', { retentionPeriod: Duration.days(14) });
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

    this.shadowReports = this.routeToQueue(
      'ShadowReport',
      'device-events/record-shadow-report.handler.ts',
      "SELECT *, topic(3) AS thingName FROM '$aws/things/+/shadow/update/accepted' WHERE NOT isUndefined(state.reported)",
    );
    this.connectionEvents = this.routeToQueue(
      'ConnectionEvent',
      'device-events/record-connection-event.handler.ts',
      "SELECT * FROM '$aws/events/presence/+/+' WHERE eventType = 'connected' OR eventType = 'disconnected'",
    );
    props.fleet.grantItems(this.shadowReports.function, 'UpdateItem');
    props.fleet.grantItems(this.connectionEvents.function, 'UpdateItem');
  }

  /**
   * A route for one kind of device event: a topic rule sends what `sql` selects (as JSON) to a
   * queue of its own, and a new Lambda takes the queue in batches, reporting the events it could
   * not apply so that only those are retried. The caller grants the function what it needs.
   * `batching` overrides the gateway's for this route (e.g. no batching window for alerts).
   */
  routeToQueue(
    name: string,
    handlerFile: string,
    sql: string,
    environment: Record<string, string> = {},
    batching: DeviceEventBatching = {},
  ): DeviceEventRoute {
    const { batchSize, maxBatchingWindow, maxConcurrency, timeout } = {
      batchSize: batching.batchSize ?? this.#batching.batchSize,
      maxBatchingWindow: batching.maxBatchingWindow ?? this.#batching.maxBatchingWindow,
      maxConcurrency: batching.maxConcurrency ?? this.#batching.maxConcurrency,
      timeout: batching.timeout ?? this.#batching.timeout,
    };
    const fn = new EdgeOpsFunction(this, `${name}Function`, {
      handlerFile,
      timeout,
      environment: { FLEET_TABLE_NAME: this.#fleetTableName, ...environment },
    });
    const queue = this.#queue(`${name}Queue`, {
      // AWS: at least six times the function's timeout, plus the batching window, so a batch
      // still being retried by Lambda is not handed out a second time.
      visibilityTimeout: Duration.seconds(6 * timeout.toSeconds() + maxBatchingWindow.toSeconds()),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });

    const ruleRole = new Role(this, `${name}RuleRole`, {
      assumedBy: new ServicePrincipal('iot.amazonaws.com'),
    });
    ruleRole.addToPolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }));
    const rule = new CfnTopicRule(this, `${name}Rule`, {
      topicRulePayload: {
        sql,
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        actions: [{ sqs: { queueUrl: queue.queueUrl, roleArn: ruleRole.roleArn, useBase64: false } }],
        errorAction: {
          sqs: { queueUrl: this.deadLetterQueue.queueUrl, roleArn: this.#ruleErrorRole.roleArn },
        },
      },
    });
    // The rule's first message must find the role allowed to send.
    rule.node.addDependency(ruleRole);

    fn.addEventSource(
      new SqsEventSource(queue, {
        batchSize,
        ...(maxBatchingWindow.toSeconds() > 0 ? { maxBatchingWindow } : {}),
        maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    return { queue, function: fn };
  }

  /** A queue of the gateway: SQS-managed encryption, and TLS only unless told otherwise. */
  #queue(id: string, props: QueueProps): Queue {
    const queue = new Queue(this, id, {
      ...props,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: this.#requireTls,
    });
    if (!this.#requireTls) {
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions-SQS4',
        reason:
          "Local stage only: local AWS counts the IoT rules engine's own SendMessage as not TLS. The aws stage denies requests without TLS.",
      });
    }
    return queue;
  }
}
