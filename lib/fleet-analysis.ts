import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  SingleValueWidget,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { type IGrantable, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import {
  Choice,
  Condition,
  CustomState,
  DefinitionBody,
  JitterType,
  JsonPath,
  LogLevel,
  Map as MapState,
  Pass,
  StateMachine,
  Succeed,
  TaskInput,
} from 'aws-cdk-lib/aws-stepfunctions';
import { LambdaInvoke } from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { FLEET_METRICS_NAMESPACE } from '../functions/adapters/cloudwatch-fleet-metrics-publisher';
import { FLEET_EVENT_SOURCE } from '../functions/adapters/eventbridge-fleet-event-publisher';
import { ANOMALIES_PARTITION, COHORTS_PARTITION } from '../functions/adapters/fleet-partitions';
import { COHORTS_PER_PAGE } from '../functions/use-cases/publish-fleet-totals';
import { EdgeOpsFunction } from './edgeops-function';
import { FleetStore } from './fleet-store';
import { nagArn } from './nag';

/** Errors worth another try of a step (see TRANSIENT_STEP_ERRORS in rollout-orchestrator.ts). */
const TRANSIENT_STEP_ERRORS = [
  'Lambda.TooManyRequestsException',
  'Lambda.Unknown',
  'Sandbox.Timedout',
  'ThrottlingException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'TransactionConflictException',
  'TransactionCanceledException',
  'InternalServerError',
  'InternalFailureException',
  'ServiceUnavailableException',
  'TimeoutError',
];

/** Cohorts analyzed at once: a cohort's Query and its writes go on in each. */
export const COHORT_CONCURRENCY = 4;

export interface FleetAnalysisProps {
  readonly fleet: FleetStore;
  /** How often the analysis runs. @default 5 minutes */
  readonly interval?: Duration;
  /**
   * Run it on that schedule (an EventBridge rule); when false the rule exists but is disabled and
   * runs are started by hand (StartExecution), as the e2e tests do. @default true
   */
  readonly scheduled?: boolean;
  /** A device's latest telemetry counts while it is at most this old. @default 3 × interval */
  readonly freshFor?: Duration;
  /**
   * Scope PutMetricData to the EdgeOps/Fleet namespace and PutEvents to the `edgeops.fleet`
   * source with the service condition keys (`cloudwatch:namespace`, `events:source`). Local AWS
   * sets neither key, so there those conditions would refuse every request. @default true
   */
  readonly scopeByConditionKeys?: boolean;
  /**
   * Pages of cohorts (50 each) one execution analyzes before the run goes on in a new one: at
   * about 7 history events per cohort, 40 pages stay well under the 25,000 events an execution
   * may have. @default 40
   */
  readonly pagesPerExecution?: number;
  /** COHORTS entries per page (at most 50). @default 50 */
  readonly cohortsPerPage?: number;
}

/**
 * The scheduled fleet analysis (docs/architecture.md, "Fleet analysis"): a state machine that
 * pages through the COHORTS entries and analyzes each cohort in a Lambda step (devices unlike
 * their peers, cohort statistics), publishes cohort and fleet figures to CloudWatch, alarms on
 * the fleet's figures into an SNS topic operators subscribe to, and a dashboard.
 */
export class FleetAnalysis extends Construct {
  public readonly stateMachine: StateMachine;
  /** Alarm notifications: subscribe operators (email, chat, paging) here. */
  public readonly alarmTopic: Topic;
  public readonly dashboard: Dashboard;
  public readonly analyzeCohort: IFunction;
  public readonly fleetSteps: IFunction;
  public readonly schedule: Rule;

  constructor(scope: Construct, id: string, props: FleetAnalysisProps) {
    super(scope, id);
    const { fleet } = props;
    const scoped = props.scopeByConditionKeys ?? true;
    const interval = props.interval ?? Duration.minutes(5);
    const freshFor = props.freshFor ?? Duration.seconds(interval.toSeconds() * 3);
    const table = fleet.table.tableArn;
    const grant = (grantee: IGrantable, statement: PolicyStatement) =>
      grantee.grantPrincipal.addToPrincipalPolicy(statement);
    // Item writes only in the partitions the analysis owns or annotates (on AWS; local AWS does
    // not evaluate dynamodb:LeadingKeys, and an absent key satisfies ForAllValues).
    const leadingKeys = (...keys: string[]) => ({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': keys },
    });

    const analyze = new EdgeOpsFunction(this, 'CohortAnalysis', {
      handlerFile: 'fleet-analysis/analyze-cohort.handler.ts',
      environment: {
        FLEET_TABLE_NAME: fleet.table.tableName,
        FRESH_FOR_SECONDS: String(freshFor.toSeconds()),
      },
      // A cohort of several thousand devices: a few Query pages and its outliers' writes.
      timeout: Duration.minutes(2),
    });
    grant(
      analyze,
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${table}/index/${FleetStore.BY_COHORT_INDEX}`],
      }),
    );
    grant(
      analyze,
      new PolicyStatement({
        // Device items (streak, flag), the cohort's COHORTS entry, ANOMALIES entries (in a
        // transaction with the device: TransactWriteItems is authorized per item action).
        actions: ['dynamodb:UpdateItem', 'dynamodb:PutItem', 'dynamodb:DeleteItem'],
        resources: [table],
        conditions: leadingKeys('DEVICE#*', COHORTS_PARTITION, ANOMALIES_PARTITION),
      }),
    );
    grant(
      analyze,
      new PolicyStatement({
        actions: ['events:PutEvents'],
        resources: [`arn:${Aws.PARTITION}:events:${Aws.REGION}:${Aws.ACCOUNT_ID}:event-bus/default`],
        ...(scoped ? { conditions: { StringEquals: { 'events:source': FLEET_EVENT_SOURCE } } } : {}),
      }),
    );

    const steps = new EdgeOpsFunction(this, 'FleetSteps', {
      handlerFile: 'fleet-analysis/fleet-steps.handler.ts',
      environment: {
        FLEET_TABLE_NAME: fleet.table.tableName,
        COHORTS_PER_PAGE: String(props.cohortsPerPage ?? COHORTS_PER_PAGE),
      },
      timeout: Duration.seconds(30),
    });
    grant(
      steps,
      new PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [table],
        conditions: leadingKeys(COHORTS_PARTITION),
      }),
    );
    grant(
      steps,
      new PolicyStatement({
        // PutMetricData has no resource-level permissions; the namespace condition scopes it.
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        ...(scoped
          ? { conditions: { StringEquals: { 'cloudwatch:namespace': FLEET_METRICS_NAMESPACE } } }
          : {}),
      }),
    );
    Validations.of(steps).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'cloudwatch:PutMetricData has no resource-level permissions; the cloudwatch:namespace condition limits it to EdgeOps/Fleet.',
    });
    this.analyzeCohort = analyze;
    this.fleetSteps = steps;

    this.stateMachine = this.#defineStateMachine(analyze, steps, interval, props.pagesPerExecution ?? 40);

    this.schedule = new Rule(this, 'Schedule', {
      description: 'Starts the fleet analysis',
      schedule: Schedule.rate(interval),
      enabled: props.scheduled ?? true,
      targets: [new SfnStateMachine(this.stateMachine, { input: RuleTargetInput.fromObject({}) })],
    });

    this.alarmTopic = this.#alarmTopic();
    this.#alarms(interval, props.scheduled ?? true);
    this.dashboard = this.#dashboard(interval);
  }

  #defineStateMachine(
    analyze: IFunction,
    steps: IFunction,
    interval: Duration,
    pagesPerExecution: number,
  ): StateMachine {
    // Named, so the definition can start a continuation of itself without a dependency cycle.
    const stateMachineName = `${Aws.STACK_NAME}-fleet-analysis`;
    const retry = <T extends LambdaInvoke>(task: T): T => {
      task.addRetry({
        errors: TRANSIENT_STEP_ERRORS,
        interval: Duration.seconds(2),
        maxAttempts: 4,
        backoffRate: 2,
        jitterStrategy: JitterType.FULL,
      });
      return task;
    };
    const invoke = (id: string, fn: IFunction, payload: Record<string, unknown>, resultPath: string) =>
      retry(
        new LambdaInvoke(this, id, {
          lambdaFunction: fn,
          payload: TaskInput.fromObject(payload),
          payloadResponseOnly: true,
          resultPath,
          retryOnServiceExceptions: true,
        }),
      );

    // The run's id and analysis time come from the execution, so a retried step repeats them.
    const startRun = new Pass(this, 'StartRun', {
      parameters: {
        'runId.$': '$$.Execution.Name',
        'analyzedAt.$': '$$.Execution.StartTime',
        page: { more: true },
        results: [],
        counter: { pages: 0 },
        part: 0,
      },
    });
    // A run goes on in a new execution every `pagesPerExecution` pages, keeping each execution's
    // history under Step Functions' 25,000 events (about 7 per cohort): it carries the run's id,
    // time, totals and the next page listed, and nothing else.
    const continueRun = new Pass(this, 'ContinueRun', {
      parameters: {
        'runId.$': '$.continuation.runId',
        'analyzedAt.$': '$.continuation.analyzedAt',
        'page.$': '$.continuation.page',
        results: [],
        counter: { pages: 0 },
        'part.$': '$.continuation.part',
      },
    });
    const continueInNewExecution = new CustomState(this, 'ContinueInNewExecution', {
      stateJson: {
        Type: 'Task',
        Resource: `arn:${Aws.PARTITION}:states:::states:startExecution`,
        Parameters: {
          'StateMachineArn.$': '$$.StateMachine.Id',
          'Name.$': "States.Format('{}-part{}', $.runId, States.MathAdd($.part, 1))",
          Input: {
            continuation: {
              'runId.$': '$.runId',
              'analyzedAt.$': '$.analyzedAt',
              'page.$': '$.page',
              'part.$': 'States.MathAdd($.part, 1)',
            },
          },
        },
        ResultPath: null,
        Retry: [
          {
            ErrorEquals: ['StepFunctions.ExecutionLimitExceededException', 'States.TaskFailed'],
            IntervalSeconds: 2,
            MaxAttempts: 4,
            BackoffRate: 2,
            JitterStrategy: 'FULL',
          },
        ],
      },
    });
    continueInNewExecution.next(new Succeed(this, 'ContinuedInNewExecution'));
    const countPage = new Pass(this, 'CountPage', {
      parameters: { 'pages.$': 'States.MathAdd($.counter.pages, 1)' },
      resultPath: '$.counter',
    });
    const nextPage = invoke(
      'NextCohortPage',
      steps,
      {
        step: 'next-page',
        analyzedAt: JsonPath.stringAt('$.analyzedAt'),
        page: JsonPath.objectAt('$.page'),
        results: JsonPath.listAt('$.results'),
      },
      '$.page',
    );
    // Its payload is the item as the Map's selector made it; its summary becomes the item's result.
    const analyzeCohort = retry(
      new LambdaInvoke(this, 'AnalyzeCohort', {
        lambdaFunction: analyze,
        payloadResponseOnly: true,
        retryOnServiceExceptions: true,
      }),
    ).addCatch(
      // One cohort that keeps failing does not hold up the rest of the fleet; it is counted
      // (FailedCohorts) and alarmed on.
      new Pass(this, 'CohortFailed', { parameters: { 'cohort.$': '$.cohort', failed: true } }),
      { resultPath: '$.error' },
    );
    const analyzeCohorts = new MapState(this, 'AnalyzeCohorts', {
      itemsPath: '$.page.cohorts',
      maxConcurrency: COHORT_CONCURRENCY,
      itemSelector: {
        cohort: JsonPath.objectAt('$$.Map.Item.Value'),
        runId: JsonPath.stringAt('$.runId'),
        analyzedAt: JsonPath.stringAt('$.analyzedAt'),
      },
      resultPath: '$.results',
    });
    analyzeCohorts.itemProcessor(analyzeCohort);
    const publishTotals = invoke(
      'PublishFleetTotals',
      steps,
      {
        step: 'publish-totals',
        analyzedAt: JsonPath.stringAt('$.analyzedAt'),
        totals: JsonPath.objectAt('$.page.totals'),
      },
      '$.totals',
    );

    const moreCohorts = new Choice(this, 'MoreCohorts')
      .when(Condition.not(Condition.isPresent('$.page.cohorts[0]')), publishTotals)
      .when(Condition.numberGreaterThanEquals('$.counter.pages', pagesPerExecution), continueInNewExecution)
      .otherwise(analyzeCohorts);
    startRun.next(nextPage);
    continueRun.next(moreCohorts);
    nextPage.next(moreCohorts);
    analyzeCohorts.next(countPage);
    countPage.next(nextPage);
    publishTotals.next(new Succeed(this, 'Analyzed'));

    const machine = new StateMachine(this, 'StateMachine', {
      stateMachineName,
      definitionBody: DefinitionBody.fromChainable(
        new Choice(this, 'ContinuedRun')
          .when(Condition.isPresent('$.continuation'), continueRun)
          .otherwise(startRun),
      ),
      // Well before the next runs pile up behind a stuck one.
      timeout: Duration.seconds(Math.max(interval.toSeconds() * 6, 1800)),
      tracingEnabled: true,
      logs: {
        destination: new LogGroup(this, 'StateMachineLogs', {
          retention: RetentionDays.ONE_MONTH,
          removalPolicy: RemovalPolicy.DESTROY,
        }),
        // Every 5 minutes: errors only, without the data (which names cohorts and totals).
        level: LogLevel.ERROR,
        includeExecutionData: false,
      },
    });
    Validations.of(machine).acknowledge(
      ...[analyze, steps].map((fn) => ({
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, fn.functionArn)}:*]`,
        reason: 'CDK grants invoking every version and alias of the step function; there is only $LATEST.',
      })),
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'X-Ray and CloudWatch Logs delivery actions have no resource-level permissions.',
      },
      {
        id: 'AwsSolutions-SF1',
        reason:
          'Runs every 5 minutes with ~7 events per cohort: ALL would log ~1 GB a day at 2000 cohorts. ERROR logs every failure; execution history and X-Ray traces keep the rest.',
      },
    );
    machine.addToRolePolicy(
      new PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [
          `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:stateMachine:${stateMachineName}`,
        ],
      }),
    );
    return machine;
  }

  #alarmTopic(): Topic {
    // CloudWatch cannot publish to a topic under the AWS managed SNS key: a key of our own that
    // lets CloudWatch use it for this account's alarms only.
    const key = new Key(this, 'AlarmTopicKey', {
      description: 'Encrypts fleet alarm notifications',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new Topic(this, 'AlarmTopic', {
      displayName: 'EdgeOps fleet alarms',
      masterKey: key,
      enforceSSL: true,
    });
    return topic;
  }

  #fleetMetric(metricName: string, period: Duration, statistic = 'Maximum'): Metric {
    return new Metric({ namespace: FLEET_METRICS_NAMESPACE, metricName, period, statistic });
  }

  #alarms(interval: Duration, scheduled: boolean): void {
    const action = new SnsAction(this.alarmTopic);
    const alarm = (id: string, props: ConstructorParameters<typeof Alarm>[2]) => {
      const a = new Alarm(this, id, props);
      a.addAlarmAction(action);
      a.addOkAction(action);
      return a;
    };
    alarm('UnhealthyPercentAlarm', {
      alarmDescription:
        'More than 5 % of devices reporting telemetry say they are unhealthy, 3 analyses running.',
      metric: this.#fleetMetric('UnhealthyPercent', interval),
      threshold: 5,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm('AnomalousDevicesAlarm', {
      alarmDescription: 'Devices are flagged as unlike their peers: see GET /fleet/anomalies.',
      metric: this.#fleetMetric('AnomalousDevices', interval),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm('FailedCohortsAlarm', {
      alarmDescription: 'The analysis of some cohorts failed after its retries (see the AnalyzeCohort logs).',
      metric: this.#fleetMetric('FailedCohorts', interval),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    alarm('AnalysisFailedAlarm', {
      alarmDescription: 'A fleet analysis run failed: its figures and flags are stale.',
      metric: this.stateMachine.metricFailed({ period: interval, statistic: 'Sum' }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (scheduled) {
      // No totals for three intervals: the analysis is not running at all.
      alarm('AnalysisStaleAlarm', {
        alarmDescription: 'No fleet totals for 3 analysis intervals: the analysis is not running.',
        metric: this.#fleetMetric('Devices', interval, 'SampleCount'),
        threshold: 1,
        comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: TreatMissingData.BREACHING,
      });
    }
  }

  #dashboard(interval: Duration): Dashboard {
    const period = interval;
    const search = (metricName: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${FLEET_METRICS_NAMESPACE},Site,HardwareType,Version} MetricName="${metricName}"', 'Maximum', ${period.toSeconds()})`,
        label,
        period,
        usingMetrics: {},
      });
    const dashboard = new Dashboard(this, 'Dashboard', {
      dashboardName: `${Stack.of(this).stackName}-fleet`,
      defaultInterval: Duration.hours(6),
    });
    dashboard.addWidgets(
      new TextWidget({
        markdown:
          '# EdgeOps fleet\nFleet totals and per-cohort figures (site × hardware type × version) from the fleet analysis. Flagged devices: `GET /fleet/anomalies`.',
        width: 24,
        height: 2,
      }),
    );
    dashboard.addWidgets(
      new SingleValueWidget({
        title: 'Fleet now',
        metrics: ['Devices', 'UnhealthyDevices', 'AnomalousDevices', 'FailedCohorts'].map((m) =>
          this.#fleetMetric(m, period),
        ),
        width: 24,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Unhealthy and disconnected (% of fleet)',
        left: [
          this.#fleetMetric('UnhealthyPercent', period),
          this.#fleetMetric('DisconnectedPercent', period),
        ],
        leftYAxis: { min: 0, max: 100 },
        width: 12,
      }),
      new GraphWidget({
        title: 'Devices and anomalies',
        left: [this.#fleetMetric('Devices', period)],
        right: [this.#fleetMetric('AnomalousDevices', period), this.#fleetMetric('UnhealthyDevices', period)],
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Healthy % by cohort',
        left: [search('HealthyPercent', 'Healthy %')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Anomalous devices by cohort',
        left: [search('AnomalousDevices', 'Anomalous')],
        width: 12,
      }),
      new GraphWidget({
        title: 'Memory p95 (MiB) by cohort',
        left: [search('MemoryP95MiB', 'Memory p95')],
        width: 12,
      }),
      new GraphWidget({
        title: 'CPU p95 (%) by cohort',
        left: [search('CpuP95Percent', 'CPU p95')],
        width: 12,
      }),
    );
    return dashboard;
  }
}
