import { Aws, RemovalPolicy, Validations } from 'aws-cdk-lib';
import {
  AccessLogFormat,
  AuthorizationType,
  CognitoUserPoolsAuthorizer,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  type MethodOptions,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { IUserPool } from 'aws-cdk-lib/aws-cognito';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnWebACL, CfnWebACLAssociation } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';
import { ANOMALIES_PARTITION } from '../functions/adapters/fleet-partitions';
import { DEVICE_CONNECTION_ENV } from '../functions/shared/device-connection-config';
import { EdgeOpsFunction } from './edgeops-function';
import { FleetStore, inPartitions } from './fleet-store';

const iotArn = (resource: string) => `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
const THINGS = iotArn('thing/*');
const CERTIFICATES = iotArn('cert/*');
/** The same ARNs as cdk-nag prints them. */
const THINGS_NAG = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:thing/*';
const CERTIFICATES_NAG = 'arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:cert/*';

export interface OperatorApiProps {
  readonly fleet: FleetStore;
  readonly userPool: IUserPool;
  /** Name of the IoT policy every new device certificate gets. */
  readonly devicePolicyName: string;
  /** @default 'v1' */
  readonly stageName?: string;
  /**
   * Put an AWS WAF web ACL (AWS managed common rules + a per-IP rate limit) in front of the stage.
   * @default true
   */
  readonly webAcl?: boolean;
  /**
   * Scope IoT registry permissions to thing/* and cert/* ARNs. Local AWS (MiniStack) checks
   * these actions against `*` instead of the resource, so the local stage turns this off.
   * @default true
   */
  readonly iotResourceLevelPermissions?: boolean;
  /**
   * Where devices connect, as the registration answer tells them, when it is not AWS IoT Core
   * (local AWS: its MQTT broker and CA).
   * @default the account's iot:Data-ATS endpoint (DescribeEndpoint at run time), port 8883, Amazon Root CA 1
   */
  readonly deviceConnection?: DeviceConnectionSettings;
}

/** An MQTT broker other than AWS IoT Core's, and the CA that signed its certificate. */
export interface DeviceConnectionSettings {
  readonly mqttHost: string;
  readonly mqttPort: number;
  readonly caCertificatePem: string;
}

/**
 * The operator HTTP API (API Gateway REST API). Every method needs a Cognito user-pool token;
 * the role it needs (viewer / operator / admin) is checked in the Lambda from the token's groups.
 * Each route has its own Lambda and role, so each holds only the permissions its route needs.
 */
export class OperatorApi extends Construct {
  /** `POST /devices`; the release trust adds what it needs to hand devices their root. */
  public readonly registerDevice: EdgeOpsFunction;
  public readonly api: RestApi;
  readonly #methodOptions: MethodOptions;

  constructor(scope: Construct, id: string, props: OperatorApiProps) {
    super(scope, id);
    const accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const api = new RestApi(this, 'Api', {
      description: 'EdgeOps operator API',
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: true,
      // The API Gateway logging role is account- and region-wide: other APIs may rely on it.
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      deployOptions: {
        stageName: props.stageName ?? 'v1',
        loggingLevel: MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
      },
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
      reason: 'The account-level role API Gateway uses to write execution logs; AWS managed and log-only.',
    });
    Validations.of(api).acknowledge({
      id: 'AwsSolutions-APIG2',
      reason:
        'Bodies, paths and queries are validated by zod schemas in each Lambda, which name the failing field.',
    });
    if (props.webAcl ?? true) {
      const webAcl = new CfnWebACL(this, 'WebAcl', {
        scope: 'REGIONAL',
        defaultAction: { allow: {} },
        visibilityConfig: {
          cloudWatchMetricsEnabled: true,
          metricName: 'edgeops-api',
          sampledRequestsEnabled: true,
        },
        rules: [
          {
            name: 'aws-common',
            priority: 0,
            overrideAction: { none: {} },
            statement: {
              managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesCommonRuleSet' },
            },
            visibilityConfig: {
              cloudWatchMetricsEnabled: true,
              metricName: 'aws-common',
              sampledRequestsEnabled: true,
            },
          },
          {
            name: 'rate-limit',
            priority: 1,
            action: { block: {} },
            statement: { rateBasedStatement: { limit: 2000, aggregateKeyType: 'IP' } },
            visibilityConfig: {
              cloudWatchMetricsEnabled: true,
              metricName: 'rate-limit',
              sampledRequestsEnabled: true,
            },
          },
        ],
      });
      new CfnWebACLAssociation(this, 'WebAclAssociation', {
        resourceArn: api.deploymentStage.stageArn,
        webAclArn: webAcl.attrArn,
      });
    } else {
      Validations.of(api).acknowledge({
        id: 'AwsSolutions-APIG3',
        reason: 'The local stage has no WAF: local AWS cannot associate a web ACL. Real stages keep it on.',
      });
    }

    const authorizer = new CognitoUserPoolsAuthorizer(this, 'Authorizer', {
      cognitoUserPools: [props.userPool],
    });
    this.#methodOptions = { authorizer, authorizationType: AuthorizationType.COGNITO };
    const environment = { FLEET_TABLE_NAME: props.fleet.table.tableName };

    const registerDevice = new EdgeOpsFunction(this, 'RegisterDevice', {
      handlerFile: 'operator-api/register-device.handler.ts',
      environment: {
        ...environment,
        DEVICE_POLICY_NAME: props.devicePolicyName,
        ...(props.deviceConnection
          ? {
              [DEVICE_CONNECTION_ENV.mqttHost]: props.deviceConnection.mqttHost,
              [DEVICE_CONNECTION_ENV.mqttPort]: String(props.deviceConnection.mqttPort),
              [DEVICE_CONNECTION_ENV.caCertificatePem]: props.deviceConnection.caCertificatePem,
            }
          : {}),
      },
    });
    // GetItem: the site's bandwidth policy, which a new device gets in its shadow.
    props.fleet.grantItems(registerDevice, 'GetItem', 'PutItem', 'UpdateItem', 'DeleteItem');
    const scoped = props.iotResourceLevelPermissions ?? true;
    registerDevice.addToRolePolicy(
      new PolicyStatement({
        actions: [
          'iot:CreateThing',
          'iot:DeleteThing',
          'iot:AttachThingPrincipal',
          'iot:DetachThingPrincipal',
          // The site's bandwidth policy, into the new device's shadow.
          'iot:UpdateThingShadow',
        ],
        resources: [scoped ? THINGS : '*'],
      }),
    );
    registerDevice.addToRolePolicy(
      new PolicyStatement({
        actions: ['iot:AttachPolicy', 'iot:DetachPolicy', 'iot:UpdateCertificate', 'iot:DeleteCertificate'],
        resources: [scoped ? CERTIFICATES : '*'],
      }),
    );
    registerDevice.addToRolePolicy(
      // None of these actions supports resource-level permissions.
      new PolicyStatement({
        actions: ['iot:CreateCertificateFromCsr', 'iot:CreateKeysAndCertificate', 'iot:DescribeEndpoint'],
        resources: ['*'],
      }),
    );
    const runtimeNames =
      'Registration creates things and certificates whose names are only known at run time.';
    Validations.of(registerDevice).acknowledge(
      { id: `AwsSolutions-IAM5[Resource::${THINGS_NAG}]`, reason: runtimeNames },
      { id: `AwsSolutions-IAM5[Resource::${CERTIFICATES_NAG}]`, reason: runtimeNames },
    );

    const getDevice = new EdgeOpsFunction(this, 'GetDevice', {
      handlerFile: 'operator-api/get-device.handler.ts',
      environment,
    });
    props.fleet.grantItems(getDevice, 'GetItem');

    const listDevices = new EdgeOpsFunction(this, 'ListDevices', {
      handlerFile: 'operator-api/list-devices.handler.ts',
      environment,
    });
    // The read each filter picks (functions/adapters/dynamodb-device-listing.ts): a Scan or Query
    // of the sparse bySite index, a Query of byCohort, or the ANOMALIES partition and then the
    // flagged devices' items. Nothing else of the table.
    listDevices.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Scan', 'dynamodb:Query'],
        resources: [`${props.fleet.table.tableArn}/index/${FleetStore.BY_SITE_INDEX}`],
      }),
    );
    listDevices.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${props.fleet.table.tableArn}/index/${FleetStore.BY_COHORT_INDEX}`],
      }),
    );
    listDevices.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [props.fleet.table.tableArn],
        conditions: inPartitions(ANOMALIES_PARTITION),
      }),
    );
    listDevices.addToRolePolicy(
      new PolicyStatement({
        actions: ['dynamodb:BatchGetItem'],
        resources: [props.fleet.table.tableArn],
        conditions: inPartitions('DEVICE#*'),
      }),
    );

    this.api = api;
    this.addRoute('GET', 'devices', listDevices);
    this.addRoute('POST', 'devices', registerDevice);
    this.registerDevice = registerDevice;
    this.addRoute('GET', 'devices/{deviceId}', getDevice);
  }

  /**
   * Adds a route served by `handler` behind the Cognito authorizer. The handler checks the role.
   * @param path relative to the API root, e.g. `releases/{releaseId}`
   */
  addRoute(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, handler: IFunction): void {
    this.api.root
      .resourceForPath(path)
      .addMethod(method, new LambdaIntegration(handler), this.#methodOptions);
  }
}
