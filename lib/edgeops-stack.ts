import {
  CfnOutput,
  CliCredentialsStackSynthesizer,
  Duration,
  RemovalPolicy,
  Size,
  Stack,
  type StackProps,
} from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { ArtifactStore } from './artifact-store';
import { BandwidthPolicies } from './bandwidth-policies';
import { DeltaBuilder } from './delta-builder';
import { type DeviceEventBatching, DeviceGateway } from './device-gateway';
import { FleetAnalysis } from './fleet-analysis';
import { FleetQueries } from './fleet-queries';
import { FleetStore } from './fleet-store';
import { FleetTelemetry } from './fleet-telemetry';
import { type DeviceConnectionSettings, OperatorApi } from './operator-api';
import { OperatorIdentity } from './operator-identity';
import { ReleaseCatalog } from './release-catalog';
import { ReleaseTrust } from './release-trust';
import { RolloutOrchestrator } from './rollout-orchestrator';

/** What differs between a local run and a real deployment; nothing else does. */
export interface StageConfig {
  readonly name: 'local' | 'aws';
  /** Keep data stores (table, bucket, signing key, user pool) when the stack is deleted. */
  readonly retainData: boolean;
  /** Require MFA for operators. */
  readonly requireMfa: boolean;
  /** Put AWS WAF in front of the operator API. */
  readonly webAcl: boolean;
  /** Scope IoT registry permissions by ARN (local AWS cannot evaluate them that way). */
  readonly iotResourceLevelPermissions: boolean;
  /** Artifacts above this size upload in parts. @default ReleaseCatalog's (64 MiB) */
  readonly artifactMultipartThreshold?: Size;
  /** How often a running wave is checked, and how long devices keep a new slot on trial. */
  readonly rollouts: { readonly pollSeconds: number; readonly deviceHealthCheckSeconds: number };
  /** How device events go from their queues to their Lambdas (lib/device-gateway.ts). */
  readonly deviceEvents: DeviceEventBatching;
  /**
   * Turn on AWS IoT job execution events from the stack (lib/job-execution-events.ts). Local AWS
   * cannot run that custom resource's handler (its Lambdas have no AWS SDK to load), so the local
   * deploy script turns them on instead (scripts/local-aws/deploy.ts).
   */
  readonly jobExecutionEventsFromStack: boolean;
  /**
   * Deny requests without TLS to the device event queues. Local AWS counts the IoT rules
   * engine's own SendMessage as not TLS, so there the policy would refuse every device event.
   */
  readonly deviceQueuesRequireTls: boolean;
  /**
   * The fleet analysis (lib/fleet-analysis.ts): how often it runs, whether on a schedule (local
   * runs are started by hand so tests control them), and whether IAM scopes its CloudWatch and
   * EventBridge calls by condition keys (local AWS sets none of them).
   */
  readonly fleetAnalysis: {
    readonly intervalMinutes: number;
    readonly scheduled: boolean;
    readonly scopeByConditionKeys: boolean;
    /** Cohorts per page and pages per execution. @default FleetAnalysis's (50 and 40) */
    readonly cohortsPerPage?: number;
    readonly pagesPerExecution?: number;
  };
}

export const STAGES: Record<StageConfig['name'], StageConfig> = {
  aws: {
    name: 'aws',
    retainData: true,
    requireMfa: true,
    webAcl: true,
    iotResourceLevelPermissions: true,
    rollouts: { pollSeconds: 30, deviceHealthCheckSeconds: 60 },
    deviceEvents: {
      batchSize: 100,
      maxBatchingWindow: Duration.seconds(2),
      maxConcurrency: 5,
      timeout: Duration.seconds(15),
    },
    jobExecutionEventsFromStack: true,
    deviceQueuesRequireTls: true,
    fleetAnalysis: { intervalMinutes: 5, scheduled: true, scopeByConditionKeys: true },
  },
  local: {
    name: 'local',
    retainData: false,
    requireMfa: false,
    webAcl: false,
    iotResourceLevelPermissions: false,
    // Small, so that e2e tests run a multipart upload with a file of a few MiB.
    artifactMultipartThreshold: Size.mebibytes(8),
    rollouts: { pollSeconds: 2, deviceHealthCheckSeconds: 2 },
    // Local AWS hands a mapping at most 10 messages and ignores batching windows; 2 batches of a
    // kind at once keep its Lambda workers (about 120 MB each) to a few on a laptop. Local AWS
    // answers the batch's DynamoDB calls from one busy process: with a fleet of 1000 it can take
    // longer than 15 s, and a batch that times out waits out the visibility timeout before its
    // retry. 60 s (so 6 min of visibility) keeps batches from timing out there.
    deviceEvents: {
      batchSize: 10,
      maxBatchingWindow: Duration.seconds(0),
      maxConcurrency: 2,
      timeout: Duration.seconds(60),
    },
    jobExecutionEventsFromStack: false,
    deviceQueuesRequireTls: false,
    // One cohort a page and a page an execution, so that e2e tests page through cohorts and go on
    // in a new execution with a handful of cohorts.
    fleetAnalysis: {
      intervalMinutes: 5,
      scheduled: false,
      scopeByConditionKeys: false,
      cohortsPerPage: 1,
      pagesPerExecution: 1,
    },
  },
};

export interface EdgeOpsStackProps extends StackProps {
  readonly stage: StageConfig;
  /** Online signing key generations, oldest first (lib/release-trust.ts). @default ['1'] */
  readonly onlineKeyGenerations?: readonly string[];
  /** Where devices connect, when not AWS IoT Core (local AWS). @default AWS IoT Core's (lib/operator-api.ts) */
  readonly deviceConnection?: DeviceConnectionSettings;
}

/** The whole EdgeOps control plane in one stack. */
export class EdgeOpsStack extends Stack {
  constructor(scope: Construct, id: string, props: EdgeOpsStackProps) {
    super(scope, id, {
      // Local AWS enforces IAM but cannot run the bootstrap's publish/deploy role chain: deploy
      // there with the caller's own credentials. Real accounts use the default bootstrap roles.
      ...(props.stage.name === 'local' ? { synthesizer: new CliCredentialsStackSynthesizer() } : {}),
      ...props,
    });
    const removalPolicy = props.stage.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    const fleet = new FleetStore(this, 'Fleet', { removalPolicy });
    const artifacts = new ArtifactStore(this, 'Artifacts', { removalPolicy });
    const identity = new OperatorIdentity(this, 'Operators', {
      requireMfa: props.stage.requireMfa,
      removalPolicy,
    });
    const gateway = new DeviceGateway(this, 'DeviceGateway', {
      fleet,
      batching: props.stage.deviceEvents,
      requireTls: props.stage.deviceQueuesRequireTls,
    });
    const api = new OperatorApi(this, 'OperatorApi', {
      fleet,
      userPool: identity.userPool,
      devicePolicyName: gateway.devicePolicyName,
      webAcl: props.stage.webAcl,
      iotResourceLevelPermissions: props.stage.iotResourceLevelPermissions,
      ...(props.deviceConnection ? { deviceConnection: props.deviceConnection } : {}),
    });
    new FleetQueries(this, 'FleetQueries', { fleet, api });
    new BandwidthPolicies(this, 'BandwidthPolicies', {
      fleet,
      api,
      iotResourceLevelPermissions: props.stage.iotResourceLevelPermissions,
    });
    new ReleaseCatalog(this, 'ReleaseCatalog', {
      fleet,
      bucket: artifacts.bucket,
      api,
      multipartThreshold: props.stage.artifactMultipartThreshold,
    });
    const trust = new ReleaseTrust(this, 'ReleaseTrust', {
      fleet,
      bucket: artifacts.bucket,
      api,
      onlineKeyGenerations: props.onlineKeyGenerations,
      removalPolicy,
    });
    trust.grantReadRoot(api.registerDevice);
    api.registerDevice.addEnvironment('ARTIFACT_BUCKET_NAME', artifacts.bucket.bucketName);
    const deltas = new DeltaBuilder(this, 'Deltas', { fleet, artifactBucket: artifacts.bucket });
    const rollouts = new RolloutOrchestrator(this, 'Rollouts', {
      fleet,
      artifactBucket: artifacts.bucket,
      api,
      gateway,
      deltaBuilder: deltas.function,
      trustPublisher: trust.publisher,
      pollInterval: Duration.seconds(props.stage.rollouts.pollSeconds),
      deviceHealthCheckSeconds: props.stage.rollouts.deviceHealthCheckSeconds,
      iotResourceLevelPermissions: props.stage.iotResourceLevelPermissions,
      jobExecutionEventsFromStack: props.stage.jobExecutionEventsFromStack,
    });

    const telemetry = new FleetTelemetry(this, 'Telemetry', {
      fleet,
      gateway,
      removalPolicy,
      // At least 30 s for a full batch of telemetry (lib/fleet-telemetry.ts), more where the stage gives more.
      telemetryTimeout: Duration.seconds(Math.max(30, props.stage.deviceEvents.timeout?.toSeconds() ?? 0)),
    });

    const analysis = new FleetAnalysis(this, 'FleetAnalysis', {
      fleet,
      interval: Duration.minutes(props.stage.fleetAnalysis.intervalMinutes),
      scheduled: props.stage.fleetAnalysis.scheduled,
      scopeByConditionKeys: props.stage.fleetAnalysis.scopeByConditionKeys,
      cohortsPerPage: props.stage.fleetAnalysis.cohortsPerPage,
      pagesPerExecution: props.stage.fleetAnalysis.pagesPerExecution,
    });

    const outputs: Record<string, string> = {
      ApiUrl: api.api.url,
      UserPoolId: identity.userPool.userPoolId,
      UserPoolClientId: identity.client.userPoolClientId,
      FleetTableName: fleet.table.tableName,
      ArtifactBucketName: artifacts.bucket.bucketName,
      OnlineKeyArns: trust.keyArns.join(','),
      TrustPublisherFunctionName: trust.publisher.functionName,
      DevicePolicyName: gateway.devicePolicyName,
      DeadLetterQueueUrl: gateway.deadLetterQueue.queueUrl,
      RolloutStateMachineArn: rollouts.stateMachine.stateMachineArn,
      TelemetryBucketName: telemetry.bucket.bucketName,
      TelemetryGlueDatabase: telemetry.databaseName,
      TelemetryHistoryTable: telemetry.tableName,
      TelemetryAthenaWorkGroup: telemetry.workGroupName,
      FleetAnalysisStateMachineArn: analysis.stateMachine.stateMachineArn,
      FleetAlarmTopicArn: analysis.alarmTopic.topicArn,
      DashboardName: analysis.dashboard.dashboardName,
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}
