import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type IGrantable, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import {
  Choice,
  Condition,
  DefinitionBody,
  Fail,
  type IChainable,
  IntegrationPattern,
  JitterType,
  JsonPath,
  LogLevel,
  Map as MapState,
  Pass,
  Result,
  StateMachine,
  Succeed,
  TaskInput,
  type TaskStateBase,
  Wait,
  WaitTime,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { BY_COHORT_INDEX } from '../functions/adapters/dynamodb-telemetry-baseline';
import { PLAN_PREFIX } from '../functions/adapters/s3-rollout-plan-store';
import { DELTA_PREFIX } from '../functions/domain/delta';
import { ROLLOUT_RUN_MAX_DAYS } from '../functions/domain/rollout-retention';
import type { DeviceGateway } from './device-gateway';
import { EdgeOpsFunction } from './edgeops-function';
import { FleetStore } from './fleet-store';
import { JobExecutionEvents } from './job-execution-events';
import { nagArn } from './nag';
import type { OperatorApi } from './operator-api';
import { TRUST_PREFIX } from './release-trust';

/**
 * Errors a step may fail with that say nothing about the rollout: the function timed out, was
 * throttled or crashed, or an AWS service throttled or failed after the client's own retries
 * (AwsApiError and SDK errors are named by the service's error code); each is worth another try.
 */
const TRANSIENT_STEP_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  'Sandbox.Timedout',
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'InternalServerError',
  'InternalFailureException',
  'ServiceUnavailableException',
  'TimeoutError',
  // Raised by a step whose cleanup (cancel a job, delete a group) did not all happen yet.
  'CleanupIncompleteError',
];

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
  /**
   * Turn on AWS IoT job execution events from the stack (lib/job-execution-events.ts); when
   * false, whoever deploys must turn them on. @default true
   */
  readonly jobExecutionEventsFromStack?: boolean;
}

/**
 * Staged rollouts: the state machine that runs a rollout's waves (one IoT job per wave, a soak,
 * and a health gate before the next), the Lambda that does each step, the device event routes
 * that bring devices' OTA progress and their job executions' outcomes in, and the operator
 * routes under /rollouts.
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
      // bySite to resolve a site's devices; failedByWave to name a wave's failed devices.
      fleet.grantList(grantee, [FleetStore.BY_SITE_INDEX, FleetStore.FAILED_BY_WAVE_INDEX]);
    };
    const writeFleet = (grantee: IGrantable) =>
      fleet.grantItems(grantee, 'PutItem', 'UpdateItem', 'BatchWriteItem');
    // A started rollout's plan pieces: written by POST /rollouts (and a rollback), read by the steps.
    const plans = artifactBucket.arnForObjects(`${PLAN_PREFIX}*`);
    // A rollback targets the devices by id; other rollouts may name a thing group.
    const startRollbacks = (grantee: IGrantable) => {
      readFleet(grantee);
      writeFleet(grantee);
      grant(grantee, ['s3:PutObject'], [plans]);
      grant(grantee, ['states:StartExecution'], [stateMachineArn]);
    };
    const startRollouts = (grantee: IGrantable) => {
      startRollbacks(grantee);
      grant(grantee, ['iot:ListThingsInThingGroup'], [iotArn('thinggroup/*')]);
    };
    const cancelJobs = (grantee: IGrantable) => grant(grantee, ['iot:CancelJob'], [iotArn('job/*')]);
    const runJobs = (grantee: IGrantable) => {
      grant(
        grantee,
        ['iot:CreateThingGroup', 'iot:AddThingToThingGroup'],
        [iotArn('thinggroup/*'), iotArn('thing/*')],
      );
      grant(grantee, ['iot:CreateJob'], [iotArn('job/*'), iotArn('thinggroup/*')]);
      cancelJobs(grantee);
      grant(grantee, ['iam:PassRole'], [presignRole.roleArn]);
    };

    const steps = fn('RolloutSteps', 'rollout-steps/steps.handler.ts');
    readFleet(steps);
    writeFleet(steps);
    runJobs(steps);
    grant(steps, ['s3:GetObject'], [plans]);
    // Telemetry gates read each cohort's devices still on the old version (the items it reads by
    // key, BatchGetItem, readFleet already grants): Query of that one index, no Scan.
    grant(steps, ['dynamodb:Query'], [`${fleet.table.tableArn}/index/${BY_COHORT_INDEX}`]);
    // A task token, not an ARN, names what SendTaskSuccess resumes: it has no resource-level scope.
    grant(steps, ['states:SendTaskSuccess'], ['*']);
    // The last step ends the waves and, under the rollback policy, starts a rollback.
    const finish = fn('FinishRollout', 'rollout-steps/finish.handler.ts');
    startRollbacks(finish);
    cancelJobs(finish);

    this.stateMachine = this.#defineStateMachine(
      stateMachineName,
      steps,
      finish,
      props.deltaBuilder,
      props.trustPublisher,
      props.pollInterval ?? Duration.seconds(30),
    );

    const otaEvents = gateway.routeToQueue(
      'OtaEvent',
      'device-events/record-ota-event.handler.ts',
      "SELECT *, topic(3) AS thingName FROM 'edgeops/devices/+/ota'",
      { ARTIFACT_BUCKET_NAME: artifactBucket.bucketName },
    );
    // What AWS IoT says of each device's job execution: a wave job that failed, was rejected,
    // timed out, was canceled or removed is recorded on the device's execution.
    const jobExecutionEvents = gateway.routeToQueue(
      'JobExecutionEvent',
      'device-events/record-job-execution-event.handler.ts',
      "SELECT * FROM '$aws/events/jobExecution/+/+'",
    );
    if (props.jobExecutionEventsFromStack ?? true) new JobExecutionEvents(this, 'JobExecutionEvents');
    // An event reads the device's execution and writes it with its wave's counters in one
    // transaction (a Put and an Update).
    for (const route of [otaEvents, jobExecutionEvents])
      fleet.grantItems(route.function, 'GetItem', 'PutItem', 'UpdateItem');

    const preview = fn('PreviewRollout', 'operator-api/rollouts/preview-rollout.handler.ts');
    readFleet(preview);
    grant(preview, ['iot:ListThingsInThingGroup'], [iotArn('thinggroup/*')]);

    const start = fn('StartRollout', 'operator-api/rollouts/start-rollout.handler.ts');
    startRollouts(start);

    const read = fn('GetRollout', 'operator-api/rollouts/get-rollout.handler.ts');
    readFleet(read);

    const control = fn('ControlRollout', 'operator-api/rollouts/control-rollout.handler.ts');
    readFleet(control);
    writeFleet(control);
    cancelJobs(control);
    grant(control, ['states:SendTaskSuccess'], ['*']);
    grant(control, ['states:StopExecution', 'states:DescribeExecution'], [executionsArn]);

    const rollback = fn('RollbackRollout', 'operator-api/rollouts/rollback-rollout.handler.ts');
    startRollbacks(rollback);

    // Whatever ends a wave (its gate, a halt, a failure, an abort) deletes the wave's thing group;
    // a cancel that raced the wave's end looks the job up before it calls the refusal harmless.
    for (const f of [steps, finish, control]) {
      grant(f, ['iot:DeleteThingGroup'], [iotArn('thinggroup/*')]);
      grant(f, ['iot:DescribeJob'], [iotArn('job/*')]);
    }

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
    for (const f of [steps, finish, preview, start, read, control, rollback]) {
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
    for (const f of [steps, finish, start, rollback]) {
      Validations.of(f).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${PLAN_PREFIX}*]`,
        reason:
          "A rollout's plan pieces are named by its id, known only at run time; under rollout-plans/ only.",
      });
    }
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
    for (const action of ['pause', 'resume', 'approve', 'abort']) {
      api.addRoute('POST', `rollouts/{rolloutId}/${action}`, control);
    }
    api.addRoute('POST', 'rollouts/{rolloutId}/rollback', rollback);
  }

  #defineStateMachine(
    name: string,
    steps: IFunction,
    finishStep: IFunction,
    deltaBuilder: IFunction,
    trustPublisher: IFunction,
    pollInterval: Duration,
  ): StateMachine {
    const rolloutId = JsonPath.stringAt('$.rolloutId');
    const waveIndex = JsonPath.numberAt('$.next.waveIndex');

    // Every task retries what is transient (Lambda's own service errors, with CDK's retry; the
    // function timing out or being throttled; AWS throttling and 5xx that outlasted the clients'
    // retries), with backoff. Every step is safe to run again. What still fails goes to
    // FailRollout, which marks the rollout failed with the error, lets go of its devices and ends
    // its waves' groupings; then the execution fails.
    const retryTransient = <T extends TaskStateBase>(task: T): T => {
      task.addRetry({
        errors: TRANSIENT_STEP_ERRORS,
        interval: Duration.seconds(5),
        maxAttempts: 4,
        backoffRate: 2,
        jitterStrategy: JitterType.FULL,
      });
      return task;
    };
    const failRun = retryTransient(
      new LambdaInvoke(this, 'FailRollout', {
        lambdaFunction: steps,
        payload: TaskInput.fromObject({ step: 'fail', rolloutId, error: JsonPath.objectAt('$.error') }),
        payloadResponseOnly: true,
        resultPath: JsonPath.DISCARD,
        retryOnServiceExceptions: true,
      }),
    );
    failRun.next(
      new Fail(this, 'RolloutFailed', {
        error: 'EdgeOps.RolloutFailed',
        cause: 'A step of the run failed after its retries; the rollout records why (haltReason).',
      }),
    );
    const orFail = <T extends TaskStateBase>(task: T): T => {
      retryTransient(task).addCatch(failRun, { resultPath: '$.error' });
      return task;
    };

    const invoke = (id: string, payload: Record<string, unknown>, resultPath: string, fn = steps) =>
      new LambdaInvoke(this, id, {
        lambdaFunction: fn,
        payload: TaskInput.fromObject(payload),
        payloadResponseOnly: true,
        resultPath,
        retryOnServiceExceptions: true,
      });
    const step = (id: string, payload: Record<string, unknown>, resultPath: string, fn = steps) =>
      orFail(invoke(id, payload, resultPath, fn));
    const park = (id: string, kind: 'pause' | 'approval') =>
      orFail(
        new LambdaInvoke(this, id, {
          lambdaFunction: steps,
          integrationPattern: IntegrationPattern.WAIT_FOR_TASK_TOKEN,
          payload: TaskInput.fromObject({ step: 'park', rolloutId, taskToken: JsonPath.taskToken, kind }),
          resultPath: JsonPath.DISCARD,
          retryOnServiceExceptions: true,
        }),
      );

    const next = step('NextStep', { step: 'next', rolloutId }, '$.next');
    // A wave starts in bounded steps: StartWave makes its grouping, AddWaveDevices puts a page of
    // its devices in (looping on the page cursor), CreateWaveJob creates its job.
    const startWave = step('StartWave', { step: 'start-wave', rolloutId, waveIndex }, '$.wave');
    const addWaveDevices = step(
      'AddWaveDevices',
      { step: 'add-wave-devices', rolloutId, waveIndex, cursor: JsonPath.stringAt('$.wave.cursor') },
      '$.wave',
    );
    const createWaveJob = step(
      'CreateWaveJob',
      { step: 'create-wave-job', rolloutId, waveIndex },
      JsonPath.DISCARD,
    );
    const waitForDevices = new Wait(this, 'WaitForDevices', { time: WaitTime.duration(pollInterval) });
    const checkWave = step(
      'CheckWave',
      { step: 'check-wave', rolloutId, waveIndex, phase: 'progress' },
      '$.check',
    );
    const soak = new Wait(this, 'Soak', { time: WaitTime.secondsPath('$.next.soakSeconds') });
    const gateWave = step('GateWave', { step: 'check-wave', rolloutId, waveIndex, phase: 'gate' }, '$.check');
    // A wave whose gate passed lets go of its devices before the next wave groups its own.
    const endWave = step('EndWave', { step: 'end-wave', rolloutId, waveIndex }, JsonPath.DISCARD);
    const parkForResume = park('ParkForResume', 'pause');
    const parkForApproval = park('ParkForApproval', 'approval');
    const finish = (id: string, payload: Record<string, unknown>) =>
      step(id, { step: 'finish', rolloutId, ...payload }, JsonPath.DISCARD, finishStep).next(
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
    startWave.next(
      new Choice(this, 'WaveStarted')
        .when(Condition.booleanEquals('$.wave.started', true), addWaveDevices)
        .otherwise(stopped),
    );
    addWaveDevices.next(
      new Choice(this, 'MoreWaveDevices')
        .when(Condition.isNotNull('$.wave.cursor'), addWaveDevices)
        .otherwise(createWaveJob),
    );
    createWaveJob.next(waitForDevices);
    waitForDevices.next(checkWave);
    checkWave.next(
      new Choice(this, 'WaveProgress')
        .when(outcome('running'), waitForDevices)
        .when(outcome('settled'), soak)
        .when(outcome('failed'), halt)
        .otherwise(stopped),
    );
    soak.next(gateWave);
    // A telemetry gate waits (up to the wave's deadline) for the updated devices' first window
    // on the new version: the check answers `settled` until it is there.
    const awaitGateTelemetry = new Wait(this, 'AwaitGateTelemetry', {
      time: WaitTime.duration(pollInterval),
    });
    awaitGateTelemetry.next(gateWave);
    gateWave.next(
      new Choice(this, 'WaveGate')
        .when(outcome('failed'), halt)
        .when(outcome('passed'), endWave)
        .when(outcome('settled'), awaitGateTelemetry)
        .otherwise(stopped),
    );
    endWave.next(
      new Choice(this, 'ApprovalNeeded')
        .when(Condition.booleanEquals('$.check.requireApproval', true), parkForApproval)
        .otherwise(next),
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
    const signRollout = orFail(
      new LambdaInvoke(this, 'SignRollout', {
        lambdaFunction: trustPublisher,
        payload: TaskInput.fromObject({ action: 'sign-rollout', rolloutId }),
        payloadResponseOnly: true,
        resultPath: '$.sign',
        retryOnServiceExceptions: true,
      }),
    );
    const unsigned = finish('FinishUnsigned', {
      outcome: 'halted',
      reason: JsonPath.format('not signed: {}', JsonPath.stringAt('$.sign.error')),
    });
    signRollout.next(
      new Choice(this, 'Signed').when(Condition.booleanEquals('$.sign.ok', true), next).otherwise(unsigned),
    );
    const afterDeltas: IChainable = signRollout;
    // Not `step`: a failed plan goes on to signing (below), it does not fail the rollout.
    const planDeltas = retryTransient(invoke('PlanDeltas', { step: 'plan-deltas', rolloutId }, '$.deltas'));
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

    // First of all, the plan POST /rollouts wrote becomes execution items and device claims, a
    // piece at a time (RolloutPlanStore): bounded work per step at any rollout size.
    const writeExecutions = step(
      'WriteExecutions',
      { step: 'write-executions', rolloutId, piece: JsonPath.numberAt('$.plan.next') },
      '$.plan',
    );
    const beginPlan = new Pass(this, 'FirstPlanPiece', {
      result: Result.fromObject({ next: 0 }),
      resultPath: '$.plan',
    });
    beginPlan.next(writeExecutions);
    writeExecutions.next(
      new Choice(this, 'MorePlanPieces')
        .when(Condition.isNotNull('$.plan.next'), writeExecutions)
        .otherwise(planDeltas),
    );

    const machine = new StateMachine(this, 'StateMachine', {
      stateMachineName: name,
      definitionBody: DefinitionBody.fromChainable(beginPlan),
      // Execution items expire a fixed time after their rollout started (rollout-retention.ts).
      timeout: Duration.days(ROLLOUT_RUN_MAX_DAYS),
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
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, finishStep.functionArn)}:*]`,
        reason: 'CDK grants invoking every version and alias of the finish step; there is only $LATEST.',
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
