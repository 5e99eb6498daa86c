import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { CONFIG_REPORT_TOPIC } from '../contract/device-config';
import type { DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import { FleetStore, inPartitions } from './fleet-store';
import type { OperatorApi } from './operator-api';

export interface DeviceConfigurationProps {
  readonly fleet: FleetStore;
  readonly api: OperatorApi;
  /** Carries devices' applied-configuration reports (a route of its own) and owns the dead-letter queue. */
  readonly gateway: DeviceGateway;
  /**
   * Scope shadow access to thing ARNs. Local AWS checks IoT actions against `*`, so the local
   * stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
  /** Deny requests without TLS to the fan-out queue (local AWS counts none as TLS). @default true */
  readonly requireTls?: boolean;
  /** Devices per fan-out page (one SQS message, one invocation). @default 100 */
  readonly fanOutPageSize?: number;
  /** Shadow deliveries one fan-out invocation starts per second, at most. @default 50 */
  readonly fanOutMaxPerSecond?: number;
  /** Fan-out pages in flight at once (2–1000). @default 2 */
  readonly fanOutConcurrency?: number;
}

/**
 * Layered device configuration (contract/device-config.ts): the operator routes for the fleet,
 * site and device layers (and the bandwidth policy routes from before, as aliases of the
 * `bandwidthPolicy` key), the fan-out that carries a fleet or site change to every device's
 * `config` shadow one page per SQS message, and the route that brings devices' reports of what
 * they applied into the fleet table, where drift is kept in a sparse index.
 *
 * Rate: at most `fanOutConcurrency` × `fanOutMaxPerSecond` shadow deliveries a second (100 by
 * default), each one GetThingShadow and one UpdateThingShadow: well under AWS IoT's
 * per-account Device Shadow API rates (check the account's Service Quotas), and at 100 a second
 * a change reaches 100,000 devices in about 17 minutes.
 */
export class DeviceConfiguration extends Construct {
  public readonly deviceFunction: IFunction;
  public readonly sharedFunction: IFunction;
  public readonly fanOutFunction: IFunction;
  public readonly fanOutQueue: IQueue;
  public readonly reportFunction: IFunction;

  constructor(scope: Construct, id: string, props: DeviceConfigurationProps) {
    super(scope, id);
    const { fleet, api, gateway } = props;
    const scoped = props.iotResourceLevelPermissions ?? true;
    const requireTls = props.requireTls ?? true;
    const environment = { FLEET_TABLE_NAME: fleet.table.tableName };
    const fanOutTimeout = Duration.seconds(120);

    const queue = new Queue(this, 'FanOutQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: requireTls,
      // AWS: at least six times the function's timeout, so a page still running is not handed out twice.
      visibilityTimeout: Duration.seconds(6 * fanOutTimeout.toSeconds()),
      deadLetterQueue: { queue: gateway.deadLetterQueue, maxReceiveCount: 5 },
    });
    if (!requireTls)
      Validations.of(queue).acknowledge({
        id: 'AwsSolutions-SQS4',
        reason:
          'Local stage only: local AWS counts no request as TLS. The aws stage denies requests without TLS.',
      });
    this.fanOutQueue = queue;
    const queueEnvironment = { ...environment, CONFIG_FAN_OUT_QUEUE_URL: queue.queueUrl };

    // Device layer: reads and writes the device item, reads the shared layers, writes its shadow.
    const device = new EdgeOpsFunction(this, 'DeviceConfig', {
      handlerFile: 'operator-api/device-config.handler.ts',
      environment,
    });
    fleet.grantItems(device, 'GetItem', 'UpdateItem');
    grantConfigShadow(device, scoped);

    // Shared layers: only the layer items (partitions CONFIG#FLEET and SITE#<site>), the drift
    // index, and the fan-out queue.
    const shared = new EdgeOpsFunction(this, 'SharedConfig', {
      handlerFile: 'operator-api/shared-config.handler.ts',
      environment: queueEnvironment,
    });
    shared.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
        resources: [fleet.table.tableArn],
        conditions: inPartitions('CONFIG#FLEET', 'SITE#*'),
      }),
    );
    shared.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${fleet.table.tableArn}/index/${FleetStore.BY_CONFIG_DRIFT_INDEX}`],
      }),
    );
    queue.grantSendMessages(shared);

    // The fan-out worker: pages of the bySite index, the device items and layers, the shadows,
    // and the next page into its own queue. One page per message.
    const fanOut = new EdgeOpsFunction(this, 'ConfigFanOut', {
      handlerFile: 'config-fan-out/run-config-fan-out.handler.ts',
      environment: {
        ...queueEnvironment,
        CONFIG_FAN_OUT_PAGE_SIZE: String(props.fanOutPageSize ?? 100),
        CONFIG_FAN_OUT_MAX_PER_SECOND: String(props.fanOutMaxPerSecond ?? 50),
      },
      timeout: fanOutTimeout,
    });
    fleet.grantItems(fanOut, 'GetItem', 'UpdateItem');
    fanOut.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query', 'dynamodb:Scan'],
        resources: [`${fleet.table.tableArn}/index/${FleetStore.BY_SITE_INDEX}`],
      }),
    );
    grantConfigShadow(fanOut, scoped);
    queue.grantSendMessages(fanOut);
    fanOut.addEventSource(
      new SqsEventSource(queue, {
        batchSize: 1,
        maxConcurrency: props.fanOutConcurrency ?? 2,
        reportBatchItemFailures: true,
      }),
    );

    // Devices' reports of what they applied, batched like every device event.
    const reports = gateway.routeToQueue(
      'ConfigReport',
      'device-events/record-config-report.handler.ts',
      `SELECT *, topic(3) AS thingName FROM '${CONFIG_REPORT_TOPIC('+')}'`,
    );
    fleet.grantItems(reports.function, 'UpdateItem');

    // Registration hands a new device's first delivery to the worker (one message).
    queue.grantSendMessages(api.registerDevice);
    api.registerDevice.addEnvironment('CONFIG_FAN_OUT_QUEUE_URL', queue.queueUrl);

    this.deviceFunction = device;
    this.sharedFunction = shared;
    this.fanOutFunction = fanOut;
    this.reportFunction = reports.function;

    for (const method of ['GET', 'PUT', 'DELETE'] as const) {
      api.addRoute(method, 'devices/{deviceId}/config', device);
      api.addRoute(method, 'sites/{site}/config', shared);
    }
    api.addRoute('PUT', 'devices/{deviceId}/bandwidth-policy', device);
    api.addRoute('DELETE', 'devices/{deviceId}/bandwidth-policy', device);
    api.addRoute('PUT', 'sites/{site}/bandwidth-policy', shared);
    api.addRoute('DELETE', 'sites/{site}/bandwidth-policy', shared);
    api.addRoute('GET', 'config/fleet', shared);
    api.addRoute('PUT', 'config/fleet', shared);
    api.addRoute('GET', 'config/keys', shared);
    api.addRoute('GET', 'sites/{site}/config/drift', shared);
  }
}

/**
 * UpdateThingShadow on any thing (device ids are only known at run time). Kept for callers that
 * write a shadow themselves; configuration delivery also reads the shadow (grantConfigShadow).
 */
export function grantShadowUpdates(fn: IFunction, scoped: boolean): void {
  grantConfigShadow(fn, scoped, ['iot:UpdateThingShadow']);
}

/**
 * Get and update of any thing's shadows (device ids are only known at run time). A named
 * shadow's ARN is `thing/<name>/<shadow>`, which `thing/*` covers. The data endpoint needs no
 * DescribeEndpoint (aws-api/iot-data.ts).
 */
export function grantConfigShadow(
  fn: IFunction,
  scoped: boolean,
  actions: readonly string[] = ['iot:GetThingShadow', 'iot:UpdateThingShadow'],
): void {
  fn.addToRolePolicy(
    new PolicyStatement({
      actions: [...actions],
      resources: [scoped ? `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:thing/*` : '*'],
    }),
  );
  if (scoped)
    Validations.of(fn).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]',
      reason: 'Configuration goes to whichever devices a layer covers, known only at run time.',
    });
}
