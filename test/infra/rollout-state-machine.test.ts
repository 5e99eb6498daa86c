import { describe, expect, it } from 'vitest';
import { EXECUTION_RETENTION_DAYS, ROLLOUT_RUN_MAX_DAYS } from '../../functions/domain/rollout-retention';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  functionGrants,
  functionId,
  outputTarget,
  render,
  resource,
  resourcesOfType,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');

interface Catcher {
  readonly ErrorEquals: readonly string[];
  readonly Next: string;
  readonly ResultPath?: string;
}
interface State {
  readonly Type: string;
  readonly Next?: string;
  readonly Default?: string;
  readonly Choices?: readonly { readonly Next: string }[];
  readonly Parameters?: Record<string, unknown>;
  readonly ItemProcessor?: { readonly StartAt: string; readonly States: Record<string, State> };
  readonly Retry?: readonly { readonly ErrorEquals: readonly string[]; readonly BackoffRate?: number }[];
  readonly Catch?: readonly Catcher[];
}
interface Definition {
  readonly StartAt: string;
  readonly TimeoutSeconds?: number;
  readonly States: Record<string, State>;
}

/** The rollout state machine's definition, with ARNs rendered as `<LogicalId.Arn>`. */
function definition(stage: StageName): Definition {
  const t = template(stage);
  return JSON.parse(
    render(resource(t, outputTarget(t, 'RolloutStateMachineArn')).Properties?.DefinitionString),
  );
}

/** Every state, Map item processors' included, by name. */
function allStates(states: Record<string, State>): [string, State][] {
  return Object.entries(states).flatMap(([name, state]) => [
    [name, state] as [string, State],
    ...(state.ItemProcessor ? allStates(state.ItemProcessor.States) : []),
  ]);
}

/**
 * Tasks whose failure is not the rollout's: deltas only save bytes, so a failed plan or build goes
 * on without them (test/infra/delta-builder.test.ts); the failure path itself can only retry.
 */
const NOT_CAUGHT_BY_FAIL = ['PlanDeltas', 'BuildDelta', 'FailRollout'];

describe.each(STAGE_NAMES)('rollout state machine failure paths in the %s stage', (stage) => {
  it('retries or catches in every Task state', () => {
    const tasks = allStates(definition(stage).States).filter(([, s]) => s.Type === 'Task');

    expect(tasks.length).toBeGreaterThan(8);
    for (const [name, task] of tasks)
      expect((task.Retry?.length ?? 0) + (task.Catch?.length ?? 0), name).toBeGreaterThan(0);
  });

  it('retries transient Lambda and service errors, with backoff, in every task of the run', () => {
    // A delta build that timed out would time out again; its failure only costs bytes.
    const tasks = Object.entries(definition(stage).States).filter(([, s]) => s.Type === 'Task');
    for (const [name, task] of tasks) {
      const retried = (error: string) => task.Retry?.find((r) => r.ErrorEquals.includes(error));
      for (const error of ['Lambda.ServiceException', 'Sandbox.Timedout', 'ThrottlingException'])
        expect(retried(error)?.BackoffRate, `${name} retries ${error}`).toBeGreaterThan(1);
    }
  });

  it('sends what still fails to FailRollout, with the error, from every rollout task', () => {
    const { States } = definition(stage);
    const tasks = Object.entries(States).filter(
      ([name, s]) => s.Type === 'Task' && !NOT_CAUGHT_BY_FAIL.includes(name),
    );

    expect(tasks.map(([name]) => name)).toEqual(
      expect.arrayContaining([
        'NextStep',
        'CheckWave',
        'GateWave',
        'EndWave',
        'ParkForResume',
        'SignRollout',
      ]),
    );
    expect(tasks.map(([name]) => name)).toEqual(
      expect.arrayContaining(['FinishSucceeded', 'FinishHalted', 'ParkForApproval']),
    );
    for (const [name, task] of tasks) {
      expect(task.Catch, name).toEqual([
        { ErrorEquals: ['States.ALL'], Next: 'FailRollout', ResultPath: '$.error' },
      ]);
    }
  });

  it('fails the rollout with the caught error, then fails the execution', () => {
    const { States } = definition(stage);

    expect(States.FailRollout).toMatchObject({
      Type: 'Task',
      Parameters: { step: 'fail', 'rolloutId.$': '$.rolloutId', 'error.$': '$.error' },
      Next: 'RolloutFailed',
    });
    expect(States.FailRollout?.Catch).toBeUndefined();
    expect(States.RolloutFailed).toMatchObject({ Type: 'Fail', Error: 'EdgeOps.RolloutFailed' });
  });

  it('ends a wave whose gate passed before anything else: the next wave, or an approval', () => {
    const { States } = definition(stage);
    const gate = States.WaveGate;
    const passed = gate?.Choices?.map((c) => c.Next).filter((next) => next !== 'FinishHalted');

    // A telemetry gate still waiting for the updated devices' first window asks again after a poll.
    expect(passed).toEqual(['EndWave', 'AwaitGateTelemetry']);
    expect(States.AwaitGateTelemetry).toMatchObject({ Type: 'Wait', Next: 'GateWave' });
    expect(States.EndWave).toMatchObject({
      Parameters: { step: 'end-wave', 'rolloutId.$': '$.rolloutId', 'waveIndex.$': '$.next.waveIndex' },
      ResultPath: null,
      Next: 'ApprovalNeeded',
    });
    const afterEnd = States.ApprovalNeeded;
    expect([...(afterEnd?.Choices ?? []).map((c) => c.Next), afterEnd?.Default].sort()).toEqual([
      'NextStep',
      'ParkForApproval',
    ]);
  });

  it(`stops any run after ${ROLLOUT_RUN_MAX_DAYS} days, before its executions expire`, () => {
    const { TimeoutSeconds } = definition(stage);

    expect(TimeoutSeconds).toBe(ROLLOUT_RUN_MAX_DAYS * 86_400);
    expect(ROLLOUT_RUN_MAX_DAYS).toBeLessThan(EXECUTION_RETENTION_DAYS);
  });
});

describe.each(STAGE_NAMES)('rollout wave groups in the %s stage', (stage) => {
  it('lets only the rollout steps (finish included) and the operator controls delete thing groups', () => {
    const t = template(stage);
    const deleters = Object.keys(resourcesOfType(t, 'AWS::Lambda::Function')).filter((id) =>
      functionGrants(t, id).some((g) => g.startsWith('iot:DeleteThingGroup on')),
    );

    expect(deleters.map((id) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(
      expect.arrayContaining([
        expect.stringContaining('RolloutSteps'),
        expect.stringContaining('FinishRollout'),
        expect.stringContaining('ControlRollout'),
      ]),
    );
    expect(deleters).toHaveLength(3);
    for (const id of deleters) {
      const resources = functionGrants(t, id)
        .filter((g) => g.startsWith('iot:DeleteThingGroup on'))
        .map((g) => g.replace('iot:DeleteThingGroup on ', ''));
      expect(resources).toEqual([stage === 'aws' ? expect.stringMatching(/:thinggroup\/\*$/) : '*']);
    }
  });
});

describe.each(STAGE_NAMES)('rollout functions in the %s stage', (stage) => {
  const grantsOf = (name: string) => functionGrants(template(stage), name).map((g) => g.split(' on ')[0]);

  it('lets only what starts rollouts start executions and write plans', () => {
    const t = template(stage);
    const starters = Object.keys(resourcesOfType(t, 'AWS::Lambda::Function'))
      .filter((id) => functionGrants(t, id).some((g) => g.startsWith('states:StartExecution on')))
      .map((id) => id.replace(/[0-9A-F]{8}$/, ''))
      .sort();

    expect(starters).toEqual([
      expect.stringContaining('FinishRollout'),
      expect.stringContaining('RollbackRollout'),
      expect.stringContaining('StartRollout'),
    ]);
    for (const name of ['FinishRollout', 'RollbackRollout', 'StartRollout'])
      expect(grantsOf(name)).toContain('s3:PutObject');
  });

  it('keeps the steps and the operator controls from starting rollouts', () => {
    for (const name of ['RolloutSteps', 'ControlRollout']) {
      expect(grantsOf(name)).not.toContain('states:StartExecution');
      expect(grantsOf(name)).not.toContain('s3:PutObject');
      expect(grantsOf(name)).not.toContain('iot:ListThingsInThingGroup');
    }
    // The operator controls cancel jobs; they never create one.
    expect(grantsOf('ControlRollout')).not.toContain('iot:CreateJob');
    expect(grantsOf('ControlRollout')).not.toContain('iam:PassRole');
  });

  it('sends the finish step to its own function', () => {
    const { States } = definition(stage);
    const t = template(stage);

    for (const name of ['FinishSucceeded', 'FinishHalted', 'FinishUnsigned']) {
      expect(JSON.stringify(States[name])).toContain(`<${functionId(t, 'FinishRollout')}.Arn>`);
    }
    expect(JSON.stringify(States.NextStep)).toContain(`<${functionId(t, 'RolloutSteps')}.Arn>`);
  });
});

describe.each(STAGE_NAMES)('fleet table expiry in the %s stage', (stage) => {
  it('has DynamoDB TTL on expiresAt', () => {
    const t = template(stage);
    const table = resource(t, outputTarget(t, 'FleetTableName'));

    expect(table.Properties?.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
  });
});
