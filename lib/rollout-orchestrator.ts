import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  DefinitionBody,
  type IChainable,
  IntegrationPattern,
  JsonPath,
  LogLevel,
  Map as MapState,
  Pass,
  StateMachine,
  Succeed,
  TaskInput,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { DELTA_PREFIX } from '../functions/domain/delta';
import type { DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import { nagArn } from './nag';
import type { OperatorApi } from './operator-api';
import { TRUST_PREFIX } from './release-trust';

export interface RolloutOrchestratorProps {
  readonly fleet: FleetStore;
  readonly artifactBucket: IBucket;
  readonly api: OperatorApi;
  readonly gateway: DeviceGateway;
  /** Builds one delta (lib/delta-builder.ts); invoked for each delta a rollout plans. */
  readonly deltaBuilder: IFunction;
  /** Signs what a rollout ships before its first wave (lib/release-trust.ts). */
  readonly trustPublisher: IFunction;
  /** How often a running wave's devices are checked. @default 30 seconds */
  readonly pollInterval?: Duration;
  /** A device that started but has not finished in this time times out. @default 60 minutes */
  readonly jobInProgressTimeout?: Duration;
  /**
   * Devices of a wave with no result after this long (e.g. offline, their execution never
   * started) count as failed. @default 120 minutes
   */
  readonly waveTimeout?: Duration;
  /** Seconds a device keeps a new slot on trial before confirming it. @default 60 */
  readonly deviceHealthCheckSeconds?: number;
  /** Scope IoT permissions by ARN; see OperatorApiProps. @default true */
  readonly iotResourceLevelPermissions?: boolean;
}

/**
 * Staged rollouts: the state machine that runs a rollout's waves (one IoT job per wave, a soak,
 * and a health gate before the next), the Lambda that does each step, the rule that brings
 * devices' OTA progress in, and the operator routes under /rollouts.
 */
export class RolloutOrchestrator extends Construct {
  public readonly stateMachine: StateMachine;

  constructor(scope: Construct, id: string, props: RolloutOrchestratorProps) {
    super(scope, id);
    const { fleet, artifactBucket, api, gateway } = props;
    const _stack = Stack.of(this);
    const scoped = props.iotResourceLevelPermissions ?? true;
    const iotArn = (resource: string) =>
      scoped ? `arn:${Aws.PARTITION}:iot:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}` : '*';
    // Named so the functions can know its ARN without a dependency cycle through the definition.
    const stateMachineName = `${Aws.STACK_NAME}-rollouts`;
    const statesArn = (resource: string) =>
      `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:${resource}`;
    const stateMachineArn = statesArn(`stateMachine:${stateMachineName}`);
    const executionsArn = statesArn(`execution:${stateMachineName}:*`);

    // AWS IoT assumes this role to presign each device's image and delta URLs when it hands out
    // a job. Devices check what they fetch against the signed targets, not against the URL.
    const presignRole = new Role(this, 'PresignRole', {
      assumedBy: new ServicePrincipal('iot.amazonaws.com'),
    });
    presignRole.addToPolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [
          artifactBucket.arnForObjects('artifacts/*'),
          artifactBucket.arnForObjects(`${DELTA_PREFIX}*`),
          artifactBucket.arnForObjects(`${TRUST_PREFIX}*`),
        ],
      }),
    );

    const environment = {
      FLEET_TABLE_NAME: fleet.table.tableName,
      ARTIFACT_BUCKET_NAME: artifactBucket.bucketName,
      PRESIGN_ROLE_ARN: presignRole.roleArn,
      JOB_IN_PROGRESS_TIMEOUT_MINUTES: String(
        (props.jobInProgressTimeout ?? Duration.minutes(60)).toMinutes(),
      ),
      DEVICE_HEALTH_CHECK_SECONDS: String(props.deviceHealthCheckSeconds ?? 60),
      WAVE_TIMEOUT_MINUTES: String((props.waveTimeout ?? Duration.minutes(120)).toMinutes()),
      ROLLOUT_STATE_MACHINE_ARN: stateMachineArn,
    };
    const fn = (name: string, handlerFile: string) =>
      new EdgeOpsFunction(this, name, { handlerFile, environment, timeout: Duration.minutes(5) });
    const grant = (grantee: IGrantable, actions: string[], resources: string[]) =>
      grantee.grantPrincipal.addToPrincipalPolicy(new PolicyStatement({ actions, resources }));
    const readFleet = (grantee: IGrantable) => {
      fleet.grantItems(grantee, 'GetItem', 'BatchGetItem', 'Query');
      fleet.grantList(grantee);
    };
    const writeFleet = (grantee: IGrantable) =>
      fleet.grantItems(grantee, 'PutItem', 'UpdateItem', 'BatchWriteItem');
    const startRollouts = (grantee: IGrantable) => {
      readFleet(grantee);
      writeFleet(grantee);
      grant(grantee, ['iot:ListThingsInThingGroup'], [iotArn('thinggroup/*')]);
      grant(grantee, ['states:StartExecution'], [stateMachineArn]);
    };
    const runJobs = (grantee: IGrantable) => {
      grant(
        grantee,
        ['iot:CreateThingGroup', 'iot:AddThingToThingGroup'],
        [iotArn('thinggroup/*'), iotArn('thing/*')],
      );
      grant(grantee, ['iot:CreateJob'], [iotArn('job/*'), iotArn('thinggroup/*')]);
      grant(grantee, ['iot:CancelJob', 'iot:ListJobExecutionsForJob'], [iotArn('job/*')]);
      grant(grantee, ['iam:PassRole'], [presignRole.roleArn]);
    };

    const steps = fn('RolloutSteps', 'rollout-steps/steps.handler.ts');
    startRollouts(steps);
    runJobs(steps);
    // A task token, not an ARN, names what SendTaskSuccess resumes: it has no resource-level scope.
    grant(steps, ['states:SendTaskSuccess'], ['*']);

    this.stateMachine = this.#defineStateMachine(
      stateMachineName,
      steps,
      props.deltaBuilder,
      props.trustPublisher,
      props.pollInterval ?? Duration.seconds(30),
    );

    const otaEvents = gateway.routeToLambda(
      'OtaEvent',
      'device-events/record-ota-event.handler.ts',
      "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/ota'",
      { ARTIFACT_BUCKET_NAME: artifactBucket.bucketName },
    );
    fleet.grantItems(otaEvents, 'UpdateItem');

    const preview = fn('PreviewRollout', 'operator-api/rollouts/preview-rollout.handler.ts');
    readFleet(preview);
    grant(preview, ['iot:ListThingsInThingGroup'], [iotArn('thinggroup/*')]);

    const start = fn('StartRollout', 'operator-api/rollouts/start-rollout.handler.ts');
    startRollouts(start);

    const read = fn('GetRollout', 'operator-api/rollouts/get-rollout.handler.ts');
    readFleet(read);
    grant(read, ['iot:ListJobExecutionsForJob'], [iotArn('job/*')]);

    const control = fn('ControlRollout', 'operator-api/rollouts/control-rollout.handler.ts');
    startRollouts(control);
    runJobs(control);
    grant(control, ['states:SendTaskSuccess'], ['*']);
    grant(control, ['states:StopExecution'], [executionsArn]);

    const runtimeNames =
      'Rollouts create and read things, thing groups and jobs whose names exist only at run time.';
    const nagIotArn = (resource: string) =>
      `arn:<AWS::Partition>:iot:<AWS::Region>:<AWS::AccountId>:${resource}`;
    for (const f of [steps, control]) {
      Validations.of(f).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'states:SendTaskSuccess is authorized by the task token and has no resource-level permissions.',
      });
    }
    for (const f of [steps, preview, start, read, control]) {
      Validations.of(f).acknowledge(
        ...['thing/*', 'thinggroup/*', 'job/*'].map((r) => ({
          id: `AwsSolutions-IAM5[Resource::${nagIotArn(r)}]`,
          reason: runtimeNames,
        })),
        {
          id: 'AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:<AWS::StackName>-rollouts:*]',
          reason: "Stopping a rollout stops the execution named after it, of this stack's own state machine.",
        },
      );
    }
    const bucketArn = nagArn(this, artifactBucket.bucketArn);
    Validations.of(presignRole).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/artifacts/*]`,
        reason: 'AWS IoT presigns downloads of any released artifact; artifacts live under artifacts/ only.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${DELTA_PREFIX}*]`,
        reason: 'AWS IoT presigns downloads of any built delta; deltas live under deltas/ only.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${TRUST_PREFIX}*]`,
        reason: 'AWS IoT presigns downloads of the TUF metadata files (versioned names), under tuf/ only.',
      },
    );

    api.addRoute('POST', 'rollouts/preview', preview);
    api.addRoute('POST', 'rollouts', start);
    api.addRoute('GET', 'rollouts', read);
    api.addRoute('GET', 'rollouts/{rolloutId}', read);
    api.addRoute('GET', 'rollouts/{rolloutId}/devices', read);
    for (const action of ['pause', 'resume', 'approve', 'abort', 'rollback']) {
      api.addRoute('POST', `rollouts/{rolloutId}/${action}`, control);
    }
  }

  #defineStateMachine(
    name: string,
    steps: IFunction,
    deltaBuilder: IFunction,
    trustPublisher: IFunction,
    pollInterval: Duration,
  ): StateMachine {
    const rolloutId = JsonPath.stringAt('$.rolloutId');
    const waveIndex = JsonPath.numberAt('$.next.waveIndex');
    const step = (id: string, payload: Record<string, unknown>, resultPath: string) =>
      new LambdaInvoke(this, id, {
        lambdaFunction: steps,
        payload: TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultPath,
        retryOnServiceExceptions: true,
      });
    const park = (id: string, kind: 'pause' | 'approval') =>
      new LambdaInvoke(this, id, {
        lambdaFunction: steps,
        integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
        payload: TaskInput.fromObject({ step: 'park', rolloutId, taskToken: JsonPath.taskToken, kind }),
        resultPath: JsonPath.DISCARD,
      });

    const next = step('NextStep', { step: 'next', rolloutId }, '$.next');
    const startWave = step('StartWave', { step: 'start-wave', rolloutId, waveIndex }, JsonPath.DISCARD);
    const waitForDevices = new Wait(this, 'WaitForDevices', { time: WaitTime.duration(pollInterval) });
    const checkWave = step(
      'CheckWave',
      { step: 'check-wave', rolloutId, waveIndex, phase: 'progress' },
      '$.check',
    );
    const soak = new Wait(this, 'Soak', { time: WaitTime.secondsPath('$.next.soakSeconds') });
    const gateWave = step('GateWave', { step: 'check-wave', rolloutId, waveIndex, phase: 'gate' }, '$.check');
    const parkForResume = park('ParkForResume', 'pause');
    const parkForApproval = park('ParkForApproval', 'approval');
    const finish = (id: string, payload: Record<string, unknown>) =>
      step(id, { step: 'finish', rolloutId, ...payload }, JsonPath.DISCARD).next(
        new Succeed(this, `${id}Done`),
      );
    const succeed = finish('FinishSucceeded', { outcome: 'succeeded' });
    const halt = finish('FinishHalted', { outcome: 'halted', reason: JsonPath.stringAt('$.check.reason') });
    const stopped = new Succeed(this, 'Stopped', { comment: 'Aborted or finished elsewhere' });

    const action = (value: string) => Condition.stringEquals('$.next.action', value);
    const outcome = (value: string) => Condition.stringEquals('$.check.outcome', value);
    next.next(
      new Choice(this, 'WhatNext')
        .when(action('start'), startWave)
        .when(action('pause'), parkForResume)
        .when(action('complete'), succeed)
        .otherwise(stopped),
    );
    startWave.next(waitForDevices);
    waitForDevices.next(checkWave);
    checkWave.next(
      new Choice(this, 'WaveProgress')
        .when(outcome('running'), waitForDevices)
        .when(outcome('settled'), soak)
        .when(outcome('failed'), halt)
        .otherwise(stopped),
    );
    soak.next(gateWave);
    gateWave.next(
      new Choice(this, 'WaveGate')
        .when(outcome('failed'), halt)
        .when(
          Condition.and(outcome('passed'), Condition.booleanEquals('$.check.requireApproval', true)),
          parkForApproval,
        )
        .when(outcome('passed'), next)
        .otherwise(stopped),
    );
    parkForResume.next(next);
    parkForApproval.next(next);

    // Before the first wave: plan the deltas the rollout's devices can use and build them, two
    // at a time. Deltas only save bytes, so nothing here can fail the rollout: a plan or build
    // that fails is recorded in the execution history and its devices take the full image.
    //
    // Then sign what the rollout ships (images, the deltas now recorded, a rollback's explicit
    // downgrade) before any job exists. A refusal (no root yet, a signed path with other bytes)
    // halts the rollout with the publisher's reason; devices would refuse unsigned targets anyway.
    const signRollout = new LambdaInvoke(this, 'SignRollout', {
      lambdaFunction: trustPublisher,
      payload: TaskInput.fromObject({ action: 'sign-rollout', rolloutId }),
      payloadResponseOnly: true,
      resultPath: '$.sign',
      retryOnServiceExceptions: true,
    });
    const unsigned = finish('FinishUnsigned', {
      outcome: 'halted',
      reason: JsonPath.format('not signed: {}', JsonPath.stringAt('$.sign.error')),
    });
    signRollout.next(
      new Choice(this, 'Signed').when(Condition.booleanEquals('$.sign.ok', true), next).otherwise(unsigned),
    );
    const afterDeltas: IChainable = signRollout;
    const planDeltas = step('PlanDeltas', { step: 'plan-deltas', rolloutId }, '$.deltas');
    const buildDelta = new LambdaInvoke(this, 'BuildDelta', {
      lambdaFunction: deltaBuilder,
      payloadResponseOnly: true,
      resultPath: JsonPath.DISCARD,
      retryOnServiceExceptions: true,
    });
    buildDelta.addCatch(
      new Pass(this, 'DeltaNotBuilt', { comment: 'Devices of this base take the full image.' }),
      { resultPath: '$.error' },
    );
    const buildDeltas = new MapState(this, 'BuildDeltas', {
      itemsPath: '$.deltas.builds',
      maxConcurrency: 2,
      itemSelector: {
        schema: 'edgeops.build-delta.v1',
        rolloutId,
        build: JsonPath.objectAt('$$.Map.Item.Value'),
      },
      resultPath: JsonPath.DISCARD,
    });
    buildDeltas.itemProcessor(buildDelta);
    planDeltas.addCatch(afterDeltas, { resultPath: '$.deltaError' });
    buildDeltas.addCatch(afterDeltas, { resultPath: '$.deltaError' });
    planDeltas.next(buildDeltas);
    buildDeltas.next(afterDeltas);

    const machine = new StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      definitionBody: DefinitionBody.fromChainable(planDeltas),
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, 'StateMachineLogs', {
          retention: RetentionDays.THREE_MONTHS,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        level: LogLevel.ALL,
        includeExecutionData: true,
      },
    });
    Validations.of(machine).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, steps.functionArn)}:*]`,
        reason: 'CDK grants invoking every version and alias of the step function; there is only $LATEST.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, deltaBuilder.functionArn)}:*]`,
        reason: 'CDK grants invoking every version and alias of the delta builder; there is only $LATEST.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, trustPublisher.functionArn)}:*]`,
        reason: 'CDK grants invoking every version and alias of the trust publisher; there is only $LATEST.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray and CloudWatch Logs delivery actions have no resource-level permissions.',
      },
    );
    return machine;
  }
}
