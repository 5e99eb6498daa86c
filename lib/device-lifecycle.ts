import { Aws, Duration, Validations } from 'aws-cdk-lib';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnPolicy } from 'aws-cdk-lib/aws-iot';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { ANOMALY_FLAGGED, FLEET_EVENT_SOURCE } from '../functions/adapters/eventbridge-fleet-event-publisher';
import type { DeviceEventRoute, DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import type { OperatorApi } from './operator-api';

export interface DeviceLifecycleProps {
  readonly fleet: FleetStore;
  readonly api: OperatorApi;
  /** Its device policy is swapped for the quarantine policy, and its route carries rotation messages. */
  readonly gateway: DeviceGateway;
  /**
   * Scope IoT actions to thing/*, cert/*, thinggroup/*, job/* and topic ARNs. Local AWS checks IoT
   * actions against `*`, so the local stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
  /**
   * Quarantine a device when the fleet analysis flags it (`Device Anomaly Flagged` on the
   * default bus). A clear does not release it: an operator does.
   * @default false
   */
  readonly autoQuarantineOnAnomaly?: boolean;
  /** Certificates a device may be issued per 24 h by rotation. @default 4 */
  readonly rotationMaxIssuedPerDay?: number;
}

/** The device's own id inside IoT policies: the thing attached to the certificate that connected. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: an IoT policy variable, resolved by AWS IoT at connect time.
const THING = '${iot:Connection.Thing.ThingName}';
const iotArn = (resource: string) => `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
const nagArn = (resource: string) => `arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:${resource}`;

/**
 * A device's identity after registration (docs/architecture.md, "Device lifecycle"):
 * - certificate rotation without an operator: a topic rule on `edgeops/devices/+/certificate/+`
 *   sends requests and confirmations through a queue to a Lambda that signs the device's CSR,
 *   answers on the device's reply topic, and deactivates the old certificate once confirmed;
 * - `POST /devices/{id}/quarantine` and `/release` (operator): the quarantine IoT policy in place
 *   of the device policy, rollouts skip the device; optionally on an anomaly flag;
 * - `POST /devices/{id}/retire` (admin): certificates revoked, groups left, jobs canceled,
 *   history kept.
 */
export class DeviceLifecycle extends Construct {
  public readonly quarantinePolicyName: string;
  public readonly rotation: DeviceEventRoute;
  public readonly quarantineFunction: IFunction;
  public readonly retireFunction: IFunction;
  public readonly anomalyQuarantineFunction: IFunction | undefined;

  constructor(scope: Construct, id: string, props: DeviceLifecycleProps) {
    super(scope, id);
    const { fleet, api, gateway } = props;
    const scoped = props.iotResourceLevelPermissions ?? true;
    const devicePolicyName = gateway.devicePolicyName;

    // Only connect, telemetry, alerts, jobs and commands (both ways), and certificate rotation, so
    // that a quarantined device does not let its certificate expire. Subscribing is allowed on the
    // device policy's filters (a filter grants nothing without iot:Receive), so an agent's
    // SUBSCRIBE on connect still succeeds; what it may receive and publish is what is listed.
    const topics = (kind: 'topic' | 'topicfilter', names: readonly string[]) =>
      names.map((n) => iotArn(`${kind}/${n}`));
    const own = (names: readonly string[]) => names.map((n) => n.replaceAll('<thing>', THING));
    const publish = own([
      'edgeops/devices/<thing>/telemetry',
      'edgeops/devices/<thing>/alerts',
      'edgeops/devices/<thing>/certificate/*',
      '$aws/things/<thing>/jobs/*',
      '$aws/commands/things/<thing>/*',
      'edgeops/devices/<thing>/commands/*',
    ]);
    const receive = own([
      'edgeops/devices/<thing>/certificate/*',
      '$aws/things/<thing>/jobs/*',
      '$aws/commands/things/<thing>/*',
      'edgeops/devices/<thing>/commands/*',
    ]);
    const subscribe = own([
      '$aws/things/<thing>/shadow/*',
      '$aws/things/<thing>/jobs/*',
      '$aws/commands/things/<thing>/*',
      'edgeops/devices/<thing>/*',
    ]);
    const quarantinePolicy = new CfnPolicy(this, 'QuarantinePolicy', {
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'iot:Connect',
            Resource: iotArn(`client/${THING}`),
            Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
          },
          { Effect: 'Allow', Action: 'iot:Publish', Resource: topics('topic', publish) },
          { Effect: 'Allow', Action: 'iot:Receive', Resource: topics('topic', receive) },
          { Effect: 'Allow', Action: 'iot:Subscribe', Resource: topics('topicfilter', subscribe) },
        ],
      },
    });
    this.quarantinePolicyName = quarantinePolicy.ref;
    const policies = { DEVICE_POLICY_NAME: devicePolicyName, QUARANTINE_POLICY_NAME: quarantinePolicy.ref };

    this.rotation = gateway.routeToQueue(
      'CertificateRotation',
      'device-lifecycle/certificate-rotation.handler.ts',
      // The device id and step come from the topic, the certificate from the connection; a message
      // that carries these names itself is not forwarded (it could claim another certificate).
      "SELECT *, topic(3) AS edgeopsDeviceId, topic(5) AS edgeopsStep, principal() AS edgeopsPrincipal FROM 'edgeops/devices/+/certificate/+' WHERE isUndefined(edgeopsDeviceId) AND isUndefined(edgeopsStep) AND isUndefined(edgeopsPrincipal)",
      { ...policies, ROTATION_MAX_ISSUED_PER_DAY: String(props.rotationMaxIssuedPerDay ?? 4) },
      // One rotation per device and year: a burst is small; no window, answers go out at once.
      { maxBatchingWindow: Duration.seconds(0), batchSize: 10 },
    );
    const rotationFunction = this.rotation.function as EdgeOpsFunction;
    fleet.grantItems(rotationFunction, 'GetItem', 'UpdateItem');
    this.#grantIot(rotationFunction, scoped, {
      cert: ['iot:AttachPolicy', 'iot:DetachPolicy', 'iot:UpdateCertificate'],
      thing: ['iot:AttachThingPrincipal', 'iot:DetachThingPrincipal', 'iot:ListThingPrincipals'],
      // CreateCertificateFromCsr has no resource-level permissions.
      any: ['iot:CreateCertificateFromCsr'],
    });
    rotationFunction.addToRolePolicy(
      new PolicyStatement({
        actions: ['iot:Publish'],
        resources: [scoped ? iotArn('topic/edgeops/devices/*/certificate/*') : '*'],
      }),
    );
    if (scoped)
      Validations.of(rotationFunction).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArn('topic/edgeops/devices/*/certificate/*')}]`,
        reason: 'Replies go to the reply topic of whichever device asked, known only at run time.',
      });

    const environment = { FLEET_TABLE_NAME: fleet.table.tableName, ...policies };
    const quarantine = new EdgeOpsFunction(this, 'DeviceQuarantine', {
      handlerFile: 'operator-api/device-quarantine.handler.ts',
      environment,
    });
    this.#grantQuarantine(quarantine, fleet, scoped);
    api.addRoute('POST', 'devices/{deviceId}/quarantine', quarantine);
    api.addRoute('POST', 'devices/{deviceId}/release', quarantine);
    this.quarantineFunction = quarantine;

    const retire = new EdgeOpsFunction(this, 'RetireDevice', {
      handlerFile: 'operator-api/retire-device.handler.ts',
      environment,
    });
    // The device item, and its entries in the RETIRED and QUARANTINED partitions (one transaction).
    fleet.grantItems(retire, 'GetItem', 'UpdateItem', 'PutItem', 'DeleteItem');
    this.#grantIot(retire, scoped, {
      cert: ['iot:DetachPolicy', 'iot:UpdateCertificate'],
      thing: [
        'iot:ListThingPrincipals',
        'iot:ListThingGroupsForThing',
        'iot:RemoveThingFromThingGroup',
        'iot:ListJobExecutionsForThing',
        'iot:CancelJobExecution',
      ],
      thinggroup: ['iot:RemoveThingFromThingGroup'],
      job: ['iot:CancelJobExecution'],
    });
    api.addRoute('POST', 'devices/{deviceId}/retire', retire);
    this.retireFunction = retire;

    if (props.autoQuarantineOnAnomaly) {
      const onAnomaly = new EdgeOpsFunction(this, 'QuarantineOnAnomaly', {
        handlerFile: 'device-lifecycle/quarantine-anomalous.handler.ts',
        environment,
      });
      this.#grantQuarantine(onAnomaly, fleet, scoped);
      new Rule(this, 'AnomalyFlagged', {
        description: 'Quarantines devices the fleet analysis flags (autoQuarantineOnAnomaly).',
        eventPattern: { source: [FLEET_EVENT_SOURCE], detailType: [ANOMALY_FLAGGED] },
        targets: [new LambdaFunction(onAnomaly, { retryAttempts: 4 })],
      });
      this.anomalyQuarantineFunction = onAnomaly;
    }
  }

  #grantQuarantine(fn: EdgeOpsFunction, fleet: FleetStore, scoped: boolean): void {
    // The device item, and its entry in the QUARANTINED partition (one transaction).
    fleet.grantItems(fn, 'GetItem', 'UpdateItem', 'PutItem', 'DeleteItem');
    this.#grantIot(fn, scoped, {
      cert: ['iot:AttachPolicy', 'iot:DetachPolicy'],
      thing: ['iot:ListThingPrincipals', 'iot:ListJobExecutionsForThing', 'iot:CancelJobExecution'],
      job: ['iot:CancelJobExecution'],
    });
  }

  /** IoT actions by resource type, scoped to that type's ARNs (or `*` where the stage cannot scope). */
  #grantIot(
    fn: EdgeOpsFunction,
    scoped: boolean,
    actions: Partial<Record<'cert' | 'thing' | 'thinggroup' | 'job' | 'any', readonly string[]>>,
  ): void {
    for (const [type, names] of Object.entries(actions)) {
      if (!names?.length) continue;
      const resource = type === 'any' || !scoped ? '*' : iotArn(`${type}/*`);
      addStatement(fn, names, resource);
      if (resource !== '*')
        Validations.of(fn).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${nagArn(`${type}/*`)}]`,
          reason: `The device (its thing, certificates, groups and jobs) is named by the request, known only at run time.`,
        });
    }
    if (!scoped || actions.any)
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: scoped
          ? 'iot:CreateCertificateFromCsr has no resource-level permissions.'
          : 'Local stage: local AWS checks IoT actions against *, not the resource ARN.',
      });
  }
}

function addStatement(grantee: IGrantable, actions: readonly string[], resource: string): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: [...actions], resources: [resource] }),
  );
}
