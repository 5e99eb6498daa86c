import {
  Aws,
  Duration,
  Names,
  NestedStack,
  type NestedStackProps,
  Reference,
  RemovalPolicy,
  Stack,
  Tokenization,
  Validations,
} from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnPolicy, CfnProvisioningTemplate, CfnTopicRule } from 'aws-cdk-lib/aws-iot';
import { CfnPermission, type IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  ALLOWLIST_PARAMETER,
  CLAIM_CLIENT_ID_PREFIX,
  CLAIM_PARAMETER,
  fleetProvisioningTopics,
} from '../contract/provisioning';
import { grantConfigShadow } from './device-configuration';
import type { DeviceEventBatching, DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import type { OperatorApi } from './operator-api';
import { type ReleaseTrust, TRUST_PREFIX } from './release-trust';

export interface DeviceProvisioningProps extends NestedStackProps {
  readonly fleet: FleetStore;
  readonly gateway: DeviceGateway;
  readonly api: OperatorApi;
  /** Serves the trust root in the answer to a provisioned device's first hello. */
  readonly trust: ReleaseTrust;
  /** The bucket the trust root's files are in (ReleaseTrust's). */
  readonly artifactBucket: IBucket;
  /**
   * The fleet provisioning template's name ([0-9A-Za-z_-], at most 36): devices publish to
   * `$aws/provisioning-templates/<name>/provision/json`, so it is part of their factory config.
   * @default `<stack name>-claim`, cut to 36 characters
   */
  readonly templateName?: string;
  /**
   * Scope the provisioning role's and the hello function's IoT actions by ARN. Local AWS checks
   * IoT actions against `*`, so the local stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** How hellos go from their queue to their Lambda. @default 10 a batch, no window, 2 at once, 30 s */
  readonly batching?: DeviceEventBatching;
  /** Deny requests without TLS to the hello queue (local AWS counts the rules engine as not TLS). @default true */
  readonly requireTls?: boolean;
}

/**
 * Zero-touch provisioning by claim (AWS IoT fleet provisioning): the allowlist operators upload,
 * the provisioning template with its pre-provisioning hook, the claim certificates' policy, and
 * the hello route that writes a provisioned device's registry record and hands it the trust root.
 *
 * - The claim policy allows a claim certificate the two fleet provisioning MQTT calls
 *   (CreateCertificateFromCsr and this template's RegisterThing) with a `claim-*` client id, and
 *   nothing else.
 * - The template creates the thing (name = serial; site, region and hardware type from the
 *   allowlist via the hook), activates the certificate made from the device's CSR and attaches
 *   the device policy, as `POST /devices` does.
 * - The hook allows only a serial on the allowlist that no other certificate claimed (one
 *   conditional write); a refusal creates nothing.
 * - The device then connects on its own certificate and publishes to `edgeops/devices/<id>/hello`;
 *   a rule queues it, and the hello function writes the registry record (once) and answers.
 *
 * A nested stack: the EdgeOps stack is near CloudFormation's 500 resources per stack, and these
 * (about 35) share nothing with its other constructs but the fleet table, the device policy, the
 * dead-letter queue and the API's routes.
 */
export class DeviceProvisioning extends NestedStack {
  public readonly allowlistTable: ITable;
  public readonly templateName: string;
  public readonly claimPolicyName: string;
  public readonly hook: IFunction;
  public readonly helloQueue: IQueue;
  public readonly helloFunction: IFunction;

  constructor(scope: Construct, id: string, props: DeviceProvisioningProps) {
    super(scope, id, props);
    const { fleet, gateway, api } = props;
    const scoped = props.iotResourceLevelPermissions ?? true;
    const stack = Stack.of(this);
    const parentName = Stack.of(scope).stackName;
    const templateName =
      props.templateName ?? `${parentName.replace(/[^0-9A-Za-z_-]/g, '')}-claim`.slice(-36);
    if (!/^[0-9A-Za-z_-]{1,36}$/.test(templateName))
      throw new Error(`templateName must match [0-9A-Za-z_-]{1,36}, got '${templateName}'`);
    this.templateName = templateName;
    const arn = (resource: string) => `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const templateArn = arn(`provisioningtemplate/${templateName}`);

    const table = new Table(this, 'Allowlist', {
      partitionKey: { name: 'serial', type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      encryption: TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.allowlistTable = table;
    const allowlistEnv = { ALLOWLIST_TABLE_NAME: table.tableName };
    const grantItems = (fn: IFunction, ...actions: string[]) =>
      fn.addToRolePolicy(
        new PolicyStatement({ actions: actions.map((a) => `dynamodb:${a}`), resources: [table.tableArn] }),
      );

    // Operators: upload batches, read one entry.
    const putAllowlist = new EdgeOpsFunction(this, 'PutAllowlist', {
      handlerFile: 'provisioning/put-allowlist.handler.ts',
      environment: allowlistEnv,
      timeout: Duration.seconds(28),
    });
    grantItems(putAllowlist, 'PutItem');
    const getEntry = new EdgeOpsFunction(this, 'GetAllowlistEntry', {
      handlerFile: 'provisioning/get-allowlist-entry.handler.ts',
      environment: allowlistEnv,
    });
    grantItems(getEntry, 'GetItem');
    api.addRoute('PUT', 'provisioning/allowlist', putAllowlist);
    api.addRoute('GET', 'provisioning/allowlist/{serial}', getEntry);

    // The hook: AWS IoT waits 5 s for its answer.
    const hook = new EdgeOpsFunction(this, 'PreProvisioningHook', {
      handlerFile: 'provisioning/pre-provisioning-hook.handler.ts',
      environment: allowlistEnv,
      timeout: Duration.seconds(5),
    });
    grantItems(hook, 'UpdateItem', 'GetItem');
    this.hook = hook;
    const invokeByTemplate = new CfnPermission(this, 'HookInvokedByTemplate', {
      action: 'lambda:InvokeFunction',
      functionName: hook.functionArn,
      principal: 'iot.amazonaws.com',
      sourceArn: templateArn,
      sourceAccount: Aws.ACCOUNT_ID,
    });

    // What the template may do in the registry: exactly what it creates, nothing else.
    const provisioningRole = new Role(this, 'ProvisioningRole', {
      assumedBy: new ServicePrincipal('iot.amazonaws.com'),
    });
    provisioningRole.addToPolicy(
      new PolicyStatement({
        actions: ['iot:CreateThing', 'iot:DescribeThing', 'iot:UpdateThing', 'iot:AttachThingPrincipal'],
        resources: [scoped ? arn('thing/*') : '*'],
      }),
    );
    provisioningRole.addToPolicy(
      new PolicyStatement({
        actions: ['iot:UpdateCertificate', 'iot:DescribeCertificate', 'iot:AttachPolicy'],
        resources: [scoped ? arn('cert/*') : '*'],
      }),
    );
    provisioningRole.addToPolicy(
      new PolicyStatement({
        actions: ['iot:GetPolicy'],
        resources: [scoped ? arn(`policy/${gateway.devicePolicyName}`) : '*'],
      }),
    );
    Validations.of(provisioningRole).acknowledge({
      id: scoped
        ? 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*]'
        : 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Things and certificates are created at provisioning time; their names are not known before.',
    });
    if (scoped)
      Validations.of(provisioningRole).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:cert/*]',
        reason:
          'The certificate is made from the device CSR at provisioning time; its id is not known before.',
      });

    const param = (name: string) => ({ Ref: name });
    const templateBody = {
      Parameters: {
        [CLAIM_PARAMETER.serialNumber]: { Type: 'String' },
        [ALLOWLIST_PARAMETER.site]: { Type: 'String' },
        [ALLOWLIST_PARAMETER.region]: { Type: 'String' },
        [ALLOWLIST_PARAMETER.hardwareType]: { Type: 'String' },
        'AWS::IoT::Certificate::Id': { Type: 'String' },
      },
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: {
            ThingName: param(CLAIM_PARAMETER.serialNumber),
            // The attributes POST /devices gives a thing (functions/adapters/iot-device-identity.ts).
            AttributePayload: {
              site: param(ALLOWLIST_PARAMETER.site),
              region: param(ALLOWLIST_PARAMETER.region),
              hardwareType: param(ALLOWLIST_PARAMETER.hardwareType),
            },
          },
        },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: param('AWS::IoT::Certificate::Id'), Status: 'Active' },
        },
        policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: gateway.devicePolicyName } },
      },
      DeviceConfiguration: { thingName: param(CLAIM_PARAMETER.serialNumber) },
    };
    const template = new CfnProvisioningTemplate(this, 'Template', {
      templateName,
      description: 'EdgeOps zero-touch provisioning by claim, for serials on the allowlist',
      enabled: true,
      provisioningRoleArn: provisioningRole.roleArn,
      templateBody: stack.toJsonString(templateBody),
      templateType: 'FLEET_PROVISIONING',
      preProvisioningHook: { targetArn: hook.functionArn, payloadVersion: '2020-04-01' },
    });
    // AWS IoT checks at creation that it may invoke the hook.
    template.node.addDependency(invokeByTemplate);
    template.node.addDependency(provisioningRole);

    // The claim certificate's policy: the fleet provisioning calls of this template, nothing else.
    const topics = fleetProvisioningTopics(templateName);
    const claimPolicy = new CfnPolicy(this, 'ClaimPolicy', {
      policyDocument: {
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'iot:Connect', Resource: arn(`client/${CLAIM_CLIENT_ID_PREFIX}*`) },
          {
            Effect: 'Allow',
            Action: 'iot:Publish',
            Resource: [arn(`topic/${topics.createFromCsr}`), arn(`topic/${topics.provision}`)],
          },
          {
            Effect: 'Allow',
            Action: 'iot:Receive',
            Resource: [
              topics.createFromCsrAccepted,
              topics.createFromCsrRejected,
              topics.provisionAccepted,
              topics.provisionRejected,
            ].map((topic) => arn(`topic/${topic}`)),
          },
          {
            Effect: 'Allow',
            Action: 'iot:Subscribe',
            Resource: [
              topics.createFromCsrAccepted,
              topics.createFromCsrRejected,
              topics.provisionAccepted,
              topics.provisionRejected,
            ].map((topic) => arn(`topicfilter/${topic}`)),
          },
        ],
      },
    });
    this.claimPolicyName = claimPolicy.ref;

    // The first hello on the device's own identity: record it, answer with trust root and config.
    // Its own rule, queue and function (as DeviceGateway.routeToQueue builds them), in this stack.
    const batching = {
      batchSize: props.batching?.batchSize ?? 10,
      maxBatchingWindow: props.batching?.maxBatchingWindow ?? Duration.seconds(0),
      maxConcurrency: props.batching?.maxConcurrency ?? 2,
      timeout: props.batching?.timeout ?? Duration.seconds(30),
    };
    const helloFn = new EdgeOpsFunction(this, 'DeviceHelloFunction', {
      handlerFile: 'provisioning/device-hello.handler.ts',
      timeout: batching.timeout,
      environment: {
        ...allowlistEnv,
        FLEET_TABLE_NAME: fleet.table.tableName,
        ARTIFACT_BUCKET_NAME: props.artifactBucket.bucketName,
      },
    });
    const requireTls = props.requireTls ?? true;
    const helloQueue = new Queue(this, 'DeviceHelloQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: requireTls,
      visibilityTimeout: Duration.seconds(
        6 * batching.timeout.toSeconds() + batching.maxBatchingWindow.toSeconds(),
      ),
      deadLetterQueue: { queue: gateway.deadLetterQueue, maxReceiveCount: 5 },
    });
    if (!requireTls)
      Validations.of(helloQueue).acknowledge({
        id: 'AwsSolutions-SQS4',
        reason:
          "Local stage only: local AWS counts the IoT rules engine's own SendMessage as not TLS. The aws stage denies requests without TLS.",
      });
    const ruleRole = new Role(this, 'DeviceHelloRuleRole', {
      assumedBy: new ServicePrincipal('iot.amazonaws.com'),
    });
    ruleRole.addToPolicy(
      new PolicyStatement({
        actions: ['sqs:SendMessage'],
        resources: [helloQueue.queueArn, gateway.deadLetterQueue.queueArn],
      }),
    );
    const rule = new CfnTopicRule(this, 'DeviceHelloRule', {
      topicRulePayload: {
        sql: "SELECT *, topic(3) AS deviceId, principal() AS certificateId FROM 'edgeops/devices/+/hello'",
        awsIotSqlVersion: '2016-03-23',
        ruleDisabled: false,
        actions: [{ sqs: { queueUrl: helloQueue.queueUrl, roleArn: ruleRole.roleArn, useBase64: false } }],
        errorAction: { sqs: { queueUrl: gateway.deadLetterQueue.queueUrl, roleArn: ruleRole.roleArn } },
      },
    });
    rule.node.addDependency(ruleRole);
    helloFn.addEventSource(
      new SqsEventSource(helloQueue, {
        batchSize: batching.batchSize,
        ...(batching.maxBatchingWindow.toSeconds() > 0
          ? { maxBatchingWindow: batching.maxBatchingWindow }
          : {}),
        maxConcurrency: batching.maxConcurrency,
        reportBatchItemFailures: true,
      }),
    );
    this.helloQueue = helloQueue;
    this.helloFunction = helloFn;
    grantItems(helloFn, 'GetItem');
    // The record (read, put once) and configuration delivery (reads the layers, updates the device item).
    fleet.grantItems(helloFn, 'GetItem', 'PutItem', 'UpdateItem');
    props.trust.grantReadRoot(helloFn);
    // ReleaseTrust names the bucket as the parent stack does; here it is this stack's parameter.
    Validations.of(helloFn).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nestedNagName(props.artifactBucket.bucketArn)}/${TRUST_PREFIX}*]`,
      reason: 'TUF metadata files are named by version at run time; it reads the newest root.',
    });
    grantConfigShadow(helloFn, scoped);
    helloFn.addToRolePolicy(
      new PolicyStatement({
        actions: ['iot:Publish'],
        resources: [scoped ? arn('topic/edgeops/devices/*/hello/*') : '*'],
      }),
    );
    Validations.of(helloFn).acknowledge({
      id: scoped
        ? 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:topic/edgeops/devices/*/hello/*]'
        : 'AwsSolutions-IAM5[Resource::*]',
      reason: 'Answers go to the hello topics of whichever device asked; device ids are known at run time.',
    });
  }
}

/**
 * How cdk-nag names, inside a nested stack, an attribute of a parent's resource: the parameter CDK
 * makes for it (`reference-to-<node unique id><attribute>`, as a logical id), in angle brackets.
 */
function nestedNagName(token: string): string {
  const reference = Tokenization.reverse(token);
  if (!(reference instanceof Reference)) throw new Error(`Not a reference to a resource: ${token}`);
  const id = `referenceto${Names.nodeUniqueId(reference.target.node)}${reference.displayName}`;
  return `<${id.replace(/[^A-Za-z0-9]/g, '')}>`;
}
