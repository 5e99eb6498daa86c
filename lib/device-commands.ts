import { Aws, Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DEVICE_LOGS_PREFIX } from '../functions/adapters/s3-log-uploads';
import { EXPIRY_SCHEDULE_PREFIX } from '../functions/adapters/scheduler-command-expiry';
import { accessLogBucket } from './access-logs';
import type { DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import { type FleetStore, inPartitions } from './fleet-store';
import { nagArn } from './nag';
import type { OperatorApi } from './operator-api';

export interface DeviceCommandsProps {
  readonly fleet: FleetStore;
  readonly api: OperatorApi;
  readonly gateway: DeviceGateway;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /** How long uploaded device logs are kept. @default 30 days */
  readonly logRetention?: Duration;
  /**
   * Scope AWS IoT permissions to thing and job ARNs. Local AWS checks IoT actions against `*`, so
   * the local stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
}

/**
 * Remote commands (reboot, upload-logs, diagnostics, inventory) on one device at a time:
 * - the operator routes `POST|GET /devices/{deviceId}/commands` and `GET …/{commandId}`;
 * - one AWS IoT job per command, and its expiry as a one-shot EventBridge Scheduler schedule
 *   (`edgeops-cmd-…` in the default group), which invokes the expiry Lambda through a role that
 *   may do nothing else;
 * - a device route (`edgeops/devices/+/commands/+` → queue → Lambda) for log upload URL requests
 *   and inventory reports;
 * - the private, encrypted logs bucket devices upload to, whose objects expire.
 * Job execution events reach the commands through the rollouts' job execution route.
 */
export class DeviceCommands extends Construct {
  public readonly logsBucket: IBucket;
  public readonly scheduleGroupName: string;

  constructor(scope: Construct, id: string, props: DeviceCommandsProps) {
    super(scope, id);
    const { fleet, api, gateway } = props;
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const scoped = props.iotResourceLevelPermissions ?? true;
    const iotArn = (resource: string) =>
      scoped ? `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}` : '*';
    const grant = (grantee: IGrantable, actions: string[], resources: string[], conditions?: object) =>
      grantee.grantPrincipal.addToPrincipalPolicy(
        new PolicyStatement({ actions, resources, ...(conditions ? { conditions } : {}) }),
      );

    const logs = new Bucket(this, 'LogsBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogBucket(this, removalPolicy),
      serverAccessLogsPrefix: 'device-logs/',
      lifecycleRules: [
        {
          prefix: DEVICE_LOGS_PREFIX,
          expiration: props.logRetention ?? Duration.days(30),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      removalPolicy,
    });
    this.logsBucket = logs;

    // The default schedule group, with names that start with EXPIRY_SCHEDULE_PREFIX: local AWS
    // names every schedule `schedule/default/<name>` for IAM whatever its group, so a grant on a
    // group of our own would be refused there; this grant means the same on both.
    const groupName = 'default';
    this.scheduleGroupName = groupName;
    const scheduleArn = `arn:${Aws.PARTITION}:scheduler:${Aws.REGION}:${Aws.ACCOUNT_ID}:schedule/${groupName}/${EXPIRY_SCHEDULE_PREFIX}*`;

    const environment = {
      FLEET_TABLE_NAME: fleet.table.tableName,
      THING_ARN_PREFIX: `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:thing/`,
      LOGS_BUCKET_NAME: logs.bucketName,
    };
    const fn = (name: string, file: string) =>
      new EdgeOpsFunction(this, name, { handlerFile: `device-commands/${file}`, environment });

    // Expiry: the schedule invokes this, which cancels a queued execution and marks the command.
    const expire = fn('ExpireCommand', 'expire-command.handler.ts');
    fleet.grantItems(expire, 'GetItem', 'UpdateItem');
    grant(
      expire,
      ['iot:CancelJobExecution', 'iot:DescribeJobExecution'],
      [iotArn('job/*'), iotArn('thing/*')],
    );
    const schedulerRole = new Role(this, 'ExpirySchedulerRole', {
      assumedBy: new ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID } },
      }),
    });
    schedulerRole.addToPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [expire.functionArn] }),
    );

    const send = fn('SendCommand', 'send-command.handler.ts');
    send.addEnvironment('EXPIRY_SCHEDULE_GROUP', groupName);
    send.addEnvironment('EXPIRY_FUNCTION_ARN', expire.functionArn);
    send.addEnvironment('EXPIRY_SCHEDULER_ROLE_ARN', schedulerRole.roleArn);
    // Reads the device item; writes the command item (and marks it FAILED if dispatch fails).
    fleet.grantItems(send, 'GetItem', 'PutItem', 'UpdateItem');
    grant(send, ['iot:CreateJob'], [iotArn('job/*'), iotArn('thing/*')]);
    grant(send, ['scheduler:CreateSchedule'], [scheduleArn]);
    grant(send, ['iam:PassRole'], [schedulerRole.roleArn], {
      StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    });

    const list = fn('ListCommands', 'list-commands.handler.ts');
    fleet.grantItems(list, 'GetItem');
    grant(list, ['dynamodb:Query'], [fleet.table.tableArn], inPartitions('DEVICE#*'));

    const get = fn('GetCommand', 'get-command.handler.ts');
    fleet.grantItems(get, 'GetItem', 'UpdateItem');
    grant(get, ['iot:DescribeJobExecution'], [iotArn('job/*'), iotArn('thing/*')]);
    // Presigns operators' downloads of uploaded logs.
    grant(get, ['s3:GetObject'], [logs.arnForObjects(`${DEVICE_LOGS_PREFIX}*`)]);

    // Devices' requests: a rule keeps each message whole (base64) beside the topic's device id.
    const messages = gateway.routeToQueue(
      'CommandMessage',
      'device-commands/command-messages.handler.ts',
      "SELECT encode(*, 'base64') AS payload, topic(3) AS deviceId, topic(5) AS kind FROM 'edgeops/devices/+/commands/+'",
      { LOGS_BUCKET_NAME: logs.bucketName },
    );
    // Reads and marks commands; writes the inventory on the device item.
    fleet.grantItems(messages.function, 'GetItem', 'UpdateItem');
    // Signs the devices' upload forms (the form carries this role's permission, for one key).
    grant(messages.function, ['s3:PutObject'], [logs.arnForObjects(`${DEVICE_LOGS_PREFIX}*`)]);
    grant(messages.function, ['iot:Publish'], [iotArn('topic/edgeops/devices/*/commands/upload-url/*')]);

    api.addRoute('POST', 'devices/{deviceId}/commands', send);
    api.addRoute('GET', 'devices/{deviceId}/commands', list);
    api.addRoute('GET', 'devices/{deviceId}/commands/{commandId}', get);

    const logsArn = nagArn(this, logs.bucketArn);
    const nagIot = (resource: string) =>
      `arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:${resource}`;
    const runtimeNames =
      'Commands create and read jobs and executions whose ids and things exist only at run time.';
    for (const f of [expire, send, get, messages.function])
      Validations.of(f).acknowledge(
        ...(scoped
          ? ['job/*', 'thing/*'].map((r) => ({
              id: `AwsSolutions-IAM5[Resource::${nagIot(r)}]`,
              reason: runtimeNames,
            }))
          : [
              {
                id: 'AwsSolutions-IAM5[Resource::*]',
                reason:
                  'Local stage only: local AWS checks IoT actions against `*`; the aws stage scopes them by ARN.',
              },
            ]),
      );
    for (const f of [get, messages.function])
      Validations.of(f).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${logsArn}/${DEVICE_LOGS_PREFIX}*]`,
        reason: "Each command's logs are one object named by device and command, under device-logs/ only.",
      });
    if (scoped)
      Validations.of(messages.function).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagIot('topic/edgeops/devices/*/commands/upload-url/*')}]`,
        reason: "Answers go to the requesting device's own reply topics, known only at run time.",
      });
    Validations.of(send).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule/${groupName}/${EXPIRY_SCHEDULE_PREFIX}*]`,
      reason: 'One expiry schedule per command, named by its id after a prefix of its own.',
    });
  }
}
