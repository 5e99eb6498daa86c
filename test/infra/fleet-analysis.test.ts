import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { COHORT_CONCURRENCY } from '../../lib/fleet-analysis';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  asList,
  functionGrants,
  functionId,
  grants,
  outputTarget,
  type PolicyStatement,
  render,
  resource,
  resourcesOfType,
  roleOfFunction,
  roleStatements,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');

interface State {
  readonly Type: string;
  readonly Next?: string;
  readonly Default?: string;
  readonly End?: boolean;
  readonly Choices?: readonly {
    readonly Next: string;
    readonly IsPresent?: boolean;
    readonly Variable?: string;
  }[];
  readonly Parameters?: Record<string, unknown>;
  readonly ItemsPath?: string;
  readonly MaxConcurrency?: number;
  readonly ItemSelector?: Record<string, unknown>;
  readonly ResultPath?: string;
  readonly ItemProcessor?: { readonly StartAt: string; readonly States: Record<string, State> };
  readonly Retry?: readonly { readonly ErrorEquals: readonly string[] }[];
  readonly Catch?: readonly { readonly ErrorEquals: readonly string[]; readonly Next: string }[];
}
interface Definition {
  readonly StartAt: string;
  readonly TimeoutSeconds?: number;
  readonly States: Record<string, State>;
}

function definition(stage: StageName): Definition {
  const t = template(stage);
  return JSON.parse(
    render(resource(t, outputTarget(t, 'FleetAnalysisStateMachineArn')).Properties?.DefinitionString),
  );
}

const statementsOfFunction = (stage: StageName, fragment: string): PolicyStatement[] => {
  const t = template(stage);
  return roleStatements(t, roleOfFunction(t, functionId(t, fragment)));
};

/** The fleet table's ARN as rendered (`<LogicalId.Arn>`). */
const table = () => `<${outputTarget(template('aws'), 'FleetTableName')}.Arn>`;

/** A function's grants besides writing its own log group (EdgeOpsFunction's). */
const grantsBesidesLogs = (fragment: string) =>
  functionGrants(template('aws'), fragment).filter(
    (g) => !/^logs:\w+ on <FleetAnalysis\w+Logs\w+\.Arn>$/.test(g),
  );

describe('fleet analysis state machine', () => {
  it('pages the cohorts, analyzes each page in a bounded Map, then publishes the totals', () => {
    const d = definition('aws');
    const states = d.States;

    expect(d.StartAt).toBe('ContinuedRun');
    expect(states.ContinuedRun?.Default).toBe('StartRun');
    expect(states.StartRun?.Parameters).toMatchObject({
      'runId.$': '$$.Execution.Name',
      'analyzedAt.$': '$$.Execution.StartTime',
      page: { more: true },
      counter: { pages: 0 },
    });
    expect(states.StartRun?.Next).toBe('NextCohortPage');
    expect(states.NextCohortPage?.ResultPath).toBe('$.page');
    expect(states.NextCohortPage?.Next).toBe('MoreCohorts');
    expect(states.MoreCohorts?.Choices?.[0]).toMatchObject({ Next: 'PublishFleetTotals' });
    expect(JSON.stringify(states.MoreCohorts?.Choices?.[0])).toContain('"IsPresent":true');
    expect(states.MoreCohorts?.Choices?.[1]).toMatchObject({
      Variable: '$.counter.pages',
      NumericGreaterThanEquals: 40,
      Next: 'ContinueInNewExecution',
    });
    expect(states.MoreCohorts?.Default).toBe('AnalyzeCohorts');
    const map = states.AnalyzeCohorts;
    expect(map?.Type).toBe('Map');
    expect(map?.ItemsPath).toBe('$.page.cohorts');
    expect(map?.MaxConcurrency).toBe(COHORT_CONCURRENCY);
    expect(COHORT_CONCURRENCY).toBeLessThanOrEqual(4);
    expect(map?.ResultPath).toBe('$.results');
    expect(map?.ItemSelector).toEqual({
      'cohort.$': '$$.Map.Item.Value',
      'runId.$': '$.runId',
      'analyzedAt.$': '$.analyzedAt',
    });
    expect(map?.Next).toBe('CountPage');
    expect(states.CountPage?.Parameters).toEqual({ 'pages.$': 'States.MathAdd($.counter.pages, 1)' });
    expect(states.CountPage?.Next).toBe('NextCohortPage');
    expect(states.PublishFleetTotals?.Next).toBe('Analyzed');
  });

  it('goes on in a new execution of itself with the run, its totals and the next page', () => {
    const states = definition('aws').States;
    const next = states.ContinueInNewExecution as State & { Resource?: string };
    expect(render(next.Resource)).toBe('arn:<AWS::Partition>:states:::states:startExecution');
    expect(next.Parameters).toEqual({
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
    });
    expect(states.ContinuedRun?.Choices?.[0]).toMatchObject({
      Variable: '$.continuation',
      Next: 'ContinueRun',
    });
    expect(states.ContinueRun?.Parameters).toMatchObject({
      'runId.$': '$.continuation.runId',
      'analyzedAt.$': '$.continuation.analyzedAt',
      'page.$': '$.continuation.page',
    });
    // The carried page's cohorts are analyzed first.
    expect(states.ContinueRun?.Next).toBe('MoreCohorts');
    const t = template('aws');
    const machine = outputTarget(t, 'FleetAnalysisStateMachineArn');
    const role = render((resource(t, machine).Properties?.RoleArn as unknown) ?? '').replace(
      /^<(.*)\.Arn>$/,
      '$1',
    );
    expect(grants(roleStatements(t, role))).toContain(
      'states:StartExecution on arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:stateMachine:<AWS::StackName>-fleet-analysis',
    );
  });

  it('retries transient errors in every task and catches a failing cohort without failing the run', () => {
    const d = definition('aws');
    const map = d.States.AnalyzeCohorts;
    const analyze = map?.ItemProcessor?.States.AnalyzeCohort;
    for (const task of [analyze, d.States.NextCohortPage, d.States.PublishFleetTotals]) {
      expect(task?.Type).toBe('Task');
      expect(task?.Retry?.flatMap((r) => r.ErrorEquals)).toEqual(
        expect.arrayContaining(['Lambda.TooManyRequestsException', 'ThrottlingException']),
      );
    }
    expect(analyze?.Catch?.[0]?.ErrorEquals).toEqual(['States.ALL']);
    const failed = map?.ItemProcessor?.States[analyze?.Catch?.[0]?.Next ?? ''];
    expect(failed?.Parameters).toEqual({ 'cohort.$': '$.cohort', failed: true });
  });

  it('is named after the stack, traced, logged and bounded in time', () => {
    const t = template('aws');
    t.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineName: { 'Fn::Join': ['', [{ Ref: 'AWS::StackName' }, '-fleet-analysis']] },
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: Match.objectLike({ Level: 'ERROR' }),
    });
    expect(definition('aws').TimeoutSeconds).toBeGreaterThanOrEqual(1800);
  });
});

describe('fleet analysis schedule', () => {
  it.each([
    ['aws', 'ENABLED'],
    ['local', 'DISABLED'],
  ] as const)('starts the state machine every 5 minutes in the %s stage (%s)', (stage, state) => {
    const t = template(stage);
    const rules = Object.values(resourcesOfType(t, 'AWS::Events::Rule')).filter(
      (r) => r.Properties?.ScheduleExpression === 'rate(5 minutes)',
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]?.Properties?.State).toBe(state);
    const target = asList(rules[0]?.Properties?.Targets as { Arn: unknown }[])[0];
    expect(render(target?.Arn)).toBe(`<${outputTarget(t, 'FleetAnalysisStateMachineArn')}>`);
  });
});

describe('fleet analysis permissions (least privilege)', () => {
  it('lets the cohort analysis query byCohort and write only devices, cohort and anomaly entries', () => {
    expect(grantsBesidesLogs('FleetAnalysisCohortAnalysis')).toEqual([
      `dynamodb:DeleteItem on ${table()}`,
      `dynamodb:PutItem on ${table()}`,
      `dynamodb:Query on ${table()}/index/byCohort`,
      `dynamodb:UpdateItem on ${table()}`,
      'events:PutEvents on arn:<AWS::Partition>:events:<AWS::Region>:<AWS::AccountId>:event-bus/default',
      'xray:PutTelemetryRecords on *',
      'xray:PutTraceSegments on *',
    ]);
    const writes = statementsOfFunction('aws', 'FleetAnalysisCohortAnalysis').find((s) =>
      asList(s.Action).includes('dynamodb:UpdateItem'),
    );
    expect(writes?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['DEVICE#*', 'COHORTS', 'ANOMALIES'] },
    });
    const events = statementsOfFunction('aws', 'FleetAnalysisCohortAnalysis').find((s) =>
      asList(s.Action).includes('events:PutEvents'),
    );
    expect(events?.Condition).toEqual({ StringEquals: { 'events:source': 'edgeops.fleet' } });
  });

  it('lets the page steps read the COHORTS partition and put metrics in EdgeOps/Fleet only', () => {
    expect(grantsBesidesLogs('FleetAnalysisFleetSteps')).toEqual([
      'cloudwatch:PutMetricData on *',
      `dynamodb:Query on ${table()}`,
      'xray:PutTelemetryRecords on *',
      'xray:PutTraceSegments on *',
    ]);
    const statements = statementsOfFunction('aws', 'FleetAnalysisFleetSteps');
    expect(statements.find((s) => asList(s.Action).includes('cloudwatch:PutMetricData'))?.Condition).toEqual({
      StringEquals: { 'cloudwatch:namespace': 'EdgeOps/Fleet' },
    });
    expect(statements.find((s) => asList(s.Action).includes('dynamodb:Query'))?.Condition).toEqual({
      'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['COHORTS'] },
    });
  });

  it('drops only the condition keys local AWS cannot evaluate in the local stage', () => {
    const statements = statementsOfFunction('local', 'FleetAnalysisFleetSteps');
    expect(
      statements.find((s) => asList(s.Action).includes('cloudwatch:PutMetricData'))?.Condition,
    ).toBeUndefined();
    expect(statements.find((s) => asList(s.Action).includes('dynamodb:Query'))?.Condition).toBeDefined();
  });
});

describe('fleet alarms and dashboard', () => {
  it.each(STAGE_NAMES)('sends alarms to an encrypted, TLS-only topic CloudWatch may use (%s)', (stage) => {
    const t = template(stage);
    const topics = Object.entries(resourcesOfType(t, 'AWS::SNS::Topic')).filter(([id]) =>
      id.startsWith('FleetAnalysisAlarmTopic'),
    );
    expect(topics).toHaveLength(1);
    const [topicId, topic] = topics[0] ?? [];
    const keyId = render(topic?.Properties?.KmsMasterKeyId);
    expect(keyId).toMatch(/^<FleetAnalysisAlarmTopicKey.*\.Arn>$/);
    const keyPolicy = resource(t, keyId.slice(1, -5)).Properties?.KeyPolicy as {
      Statement: PolicyStatement[];
    };
    expect(
      keyPolicy.Statement.some(
        (s) =>
          JSON.stringify(s.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }) &&
          asList(s.Action).includes('kms:GenerateDataKey*'),
      ),
    ).toBe(true);
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms on the fleet totals: unhealthy % above 5 for 3 runs, any anomalous device, failures', () => {
    const t = template('aws');
    const alarms = Object.values(resourcesOfType(t, 'AWS::CloudWatch::Alarm')).map((a) => a.Properties ?? {});
    const byMetric = (name: string) => alarms.find((a) => a.MetricName === name);
    expect(byMetric('UnhealthyPercent')).toMatchObject({
      Namespace: 'EdgeOps/Fleet',
      Threshold: 5,
      ComparisonOperator: 'GreaterThanThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      Period: 300,
    });
    expect(byMetric('UnhealthyPercent')?.Dimensions).toBeUndefined();
    expect(byMetric('AnomalousDevices')).toMatchObject({
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(byMetric('FailedCohorts')).toBeDefined();
    expect(byMetric('ExecutionsFailed')).toMatchObject({ Namespace: 'AWS/States' });
    expect(byMetric('Devices')).toMatchObject({ TreatMissingData: 'breaching' });
    for (const alarm of alarms.filter((a) => String(a.AlarmDescription ?? '').length > 0)) {
      expect(render(asList(alarm.AlarmActions)[0])).toMatch(/^<FleetAnalysisAlarmTopic/);
    }
  });

  it('has no staleness alarm where the analysis does not run on a schedule (local)', () => {
    const alarms = Object.values(resourcesOfType(template('local'), 'AWS::CloudWatch::Alarm'));
    expect(alarms.find((a) => a.Properties?.MetricName === 'Devices')).toBeUndefined();
  });

  it('graphs the fleet totals and each cohort through SEARCH expressions', () => {
    const t = template('aws');
    const dashboards = Object.values(resourcesOfType(t, 'AWS::CloudWatch::Dashboard'));
    expect(dashboards).toHaveLength(1);
    const body = render(dashboards[0]?.Properties?.DashboardBody);
    expect(body).toContain(
      `SEARCH('{EdgeOps/Fleet,Site,HardwareType,Version} MetricName=\\"HealthyPercent\\"', 'Maximum', 300)`,
    );
    for (const metric of ['UnhealthyPercent', 'DisconnectedPercent', 'AnomalousDevices', 'MemoryP95MiB']) {
      expect(body).toContain(metric);
    }
    expect(outputTarget(t, 'DashboardName')).toMatch(/^FleetAnalysisDashboard/);
  });
});
