import { describe, expect, it } from 'vitest';
import { STAGE_NAMES, type StageName, synthesizeOnce } from './synth';
import {
  functionGrants,
  functionId,
  grants,
  outputTarget,
  render,
  resource,
  resourcesOfType,
  roleStatements,
} from './template-queries';

const template = synthesizeOnce('aws', 'local');
/** What `Tracing.ACTIVE` adds to every function role; X-Ray has no resource-level permissions. */
const TRACING = ['xray:PutTelemetryRecords on *', 'xray:PutTraceSegments on *'];

const fleetTable = (stage: StageName) => `<${outputTarget(template(stage), 'FleetTableName')}.Arn>`;
const bucket = (stage: StageName) => `<${outputTarget(template(stage), 'ArtifactBucketName')}.Arn>`;

interface State {
  readonly Type: string;
  readonly Next?: string;
  readonly End?: boolean;
  readonly Resource?: string;
  readonly ItemsPath?: string;
  readonly MaxConcurrency?: number;
  readonly ItemSelector?: Record<string, unknown>;
  readonly ItemProcessor?: { readonly StartAt: string; readonly States: Record<string, State> };
  readonly Retry?: readonly { readonly ErrorEquals: readonly string[] }[];
  readonly Catch?: readonly { readonly ErrorEquals: readonly string[]; readonly Next: string }[];
  readonly Parameters?: Record<string, unknown>;
}

/** The rollout state machine's definition, with ARNs rendered as `<LogicalId.Arn>`. */
function definition(stage: StageName): { StartAt: string; States: Record<string, State> } {
  const t = template(stage);
  const arn = outputTarget(t, 'RolloutStateMachineArn');
  return JSON.parse(render(resource(t, arn).Properties?.DefinitionString));
}

describe.each(STAGE_NAMES)('delta builder in the %s stage', (stage) => {
  it('may only read artifacts (pinned versions), write under deltas/ and get or put fleet items', () => {
    expect(functionGrants(template(stage), 'BuildDelta')).toEqual(
      [
        `dynamodb:GetItem on ${fleetTable(stage)}`,
        `dynamodb:PutItem on ${fleetTable(stage)}`,
        `s3:GetObject on ${bucket(stage)}/artifacts/*`,
        `s3:GetObjectVersion on ${bucket(stage)}/artifacts/*`,
        `s3:PutObject on ${bucket(stage)}/deltas/*`,
        ...TRACING,
      ].sort(),
    );
  });

  it('has the memory and time to build deltas of 200 MB images, in memory', () => {
    const fn = resource(template(stage), functionId(template(stage), 'BuildDelta')).Properties;

    expect(fn).toMatchObject({ MemorySize: 8192, Timeout: 900 });
    expect(fn?.EphemeralStorage).toBeUndefined();
  });

  it('is invoked only by the rollout state machine', () => {
    const t = template(stage);
    const builder = functionId(t, 'BuildDelta');
    const machine = resource(t, outputTarget(t, 'RolloutStateMachineArn'));
    const machineRole = render(machine.Properties?.RoleArn).replace(/^<(.+)\.Arn>$/, '$1');
    const invokers = Object.entries(resourcesOfType(t, 'AWS::IAM::Role')).filter(([roleId]) =>
      grants(roleStatements(t, roleId)).some((g) =>
        g.startsWith(`lambda:InvokeFunction on <${builder}.Arn>`),
      ),
    );

    expect(invokers.map(([roleId]) => roleId)).toEqual([machineRole]);
    expect(
      Object.values(resourcesOfType(t, 'AWS::Lambda::Permission')).map((p) =>
        render(p.Properties?.FunctionName),
      ),
    ).not.toContain(`<${builder}.Arn>`);
  });
});

describe.each(STAGE_NAMES)('job download presigning in the %s stage', (stage) => {
  it('lets AWS IoT presign reads of artifacts, deltas and TUF metadata, nothing else', () => {
    const t = template(stage);
    const presignRoles = Object.entries(resourcesOfType(t, 'AWS::IAM::Role'))
      .filter(([, role]) => render(role.Properties?.AssumeRolePolicyDocument).includes('iot.amazonaws.com'))
      .filter(([roleId]) => grants(roleStatements(t, roleId)).some((g) => g.startsWith('s3:GetObject')));

    expect(presignRoles).toHaveLength(1);
    const [roleId] = presignRoles[0] ?? [];
    expect(grants(roleStatements(t, String(roleId)))).toEqual([
      `s3:GetObject on ${bucket(stage)}/artifacts/*`,
      `s3:GetObject on ${bucket(stage)}/deltas/*`,
      `s3:GetObject on ${bucket(stage)}/tuf/*`,
    ]);
  });
});

describe.each(STAGE_NAMES)('rollout state machine deltas in the %s stage', (stage) => {
  it('plans deltas once the executions are written, builds them in a Map, then signs the rollout', () => {
    const { StartAt, States } = definition(stage);

    expect(StartAt).toBe('FirstPlanPiece');
    expect(States.MorePlanPieces).toMatchObject({ Type: 'Choice', Default: 'PlanDeltas' });
    expect(States.PlanDeltas).toMatchObject({
      Next: 'BuildDeltas',
      Parameters: { step: 'plan-deltas', 'rolloutId.$': '$.rolloutId' },
    });
    expect(States.BuildDeltas).toMatchObject({
      Type: 'Map',
      ItemsPath: '$.deltas.builds',
      MaxConcurrency: 2,
      Next: 'SignRollout',
      ItemSelector: {
        schema: 'edgeops.build-delta.v1',
        'rolloutId.$': '$.rolloutId',
        'build.$': '$$.Map.Item.Value',
      },
    });
  });

  it('invokes the builder for each build, retrying Lambda service errors', () => {
    const processor = definition(stage).States.BuildDeltas?.ItemProcessor;
    const invoke = processor?.States[processor.StartAt];

    expect(invoke?.Resource).toBe(`<${functionId(template(stage), 'BuildDelta')}.Arn>`);
    expect(invoke?.Retry?.flatMap((r) => r.ErrorEquals)).toEqual(
      expect.arrayContaining(['Lambda.ServiceException', 'Lambda.SdkClientException']),
    );
  });

  it('lets no failed plan or build fail the rollout: each goes on (to signing) without the delta', () => {
    const { States } = definition(stage);
    const processor = States.BuildDeltas?.ItemProcessor;
    const invoke = processor?.States[processor.StartAt];
    const catchAll = (state: State | undefined) =>
      state?.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'))?.Next;

    expect(catchAll(invoke)).toBe('DeltaNotBuilt');
    expect(processor?.States.DeltaNotBuilt).toMatchObject({ Type: 'Pass', End: true });
    expect(catchAll(States.PlanDeltas)).toBe('SignRollout');
    expect(catchAll(States.BuildDeltas)).toBe('SignRollout');
  });

  it('signs with the trust publisher before the first wave, and halts when it refuses', () => {
    const { States } = definition(stage);

    expect(States.SignRollout).toMatchObject({
      Resource: `<${functionId(template(stage), 'ReleaseTrustPublisher')}.Arn>`,
      Parameters: { action: 'sign-rollout', 'rolloutId.$': '$.rolloutId' },
      ResultPath: '$.sign',
      Next: 'Signed',
    });
    expect(States.Signed).toMatchObject({
      Type: 'Choice',
      Choices: [{ Variable: '$.sign.ok', BooleanEquals: true, Next: 'NextStep' }],
      Default: 'FinishUnsigned',
    });
    expect(States.FinishUnsigned).toMatchObject({ Parameters: { step: 'finish', outcome: 'halted' } });
  });
});
