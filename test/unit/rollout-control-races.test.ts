import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { IotJobDispatcher } from '../../functions/adapters/iot-job-dispatcher';
import { SfnRolloutOrchestrator } from '../../functions/adapters/sfn-rollout-orchestrator';
import { RolloutStateError } from '../../functions/domain/errors';
import type { Rollout, RolloutStatus } from '../../functions/domain/rollout';
import { errorResponse } from '../../functions/operator-api/http';
import type { RolloutStore } from '../../functions/ports/rollout-store';
import { AwsApiError } from '../../functions/shared/aws-api/aws-service';
import type { IotApi } from '../../functions/shared/aws-api/iot';
import type { SfnApi } from '../../functions/shared/aws-api/sfn';
import { ROLLBACK_WAVE } from '../../functions/use-cases/rollouts/rollback-rollout';
import { rolloutHarness, waves } from './rollout-harness';

/** An error answer of AWS, as the clients throw it. */
const awsError = (code: string, message: string, statusCode = 400) =>
  new AwsApiError(code, message, statusCode);

/** A client that answers each call by its method name; an Error answer is thrown. */
function fakeClient<C>(answers: Record<string, unknown | ((input: Record<string, unknown>) => unknown)>) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = new Proxy(
    {},
    {
      get: (_target, name: string) => async (input: Record<string, unknown>) => {
        sent.push({ name, input });
        const answer = answers[name];
        const value = typeof answer === 'function' ? (answer as (i: unknown) => unknown)(input) : answer;
        if (value instanceof Error) throw value;
        return value ?? {};
      },
    },
  ) as C;
  return { client, sent };
}

const iotJobs = (iot: IotApi) =>
  new IotJobDispatcher(iot, {
    presignRoleArn: 'arn:aws:iam::1:role/presign',
    presignExpiresInSec: 3600,
    inProgressTimeoutMinutes: 60,
    maximumPerMinute: 1000,
  });
const sfnRun = (sfn: SfnApi) =>
  new SfnRolloutOrchestrator(sfn, 'arn:aws:states:eu-west-1:1:stateMachine:edgeops-rollouts');

describe('IotJobDispatcher when the job ended first', () => {
  const refused = () => awsError('InvalidRequestException', 'Job is in status COMPLETED');

  it.each(['COMPLETED', 'CANCELED', 'DELETION_IN_PROGRESS'])(
    'cancelJob leaves a job that is %s as it is',
    async (status) => {
      const { client, sent } = fakeClient<IotApi>({
        cancelJob: refused(),
        describeJob: { job: { jobId: 'ro-1-w0', status } },
      });

      await expect(iotJobs(client).cancelJob('ro-1-w0', 'aborted')).resolves.toBeUndefined();
      expect(sent.map((c) => c.name)).toEqual(['cancelJob', 'describeJob']);
    },
  );

  it('cancelJob leaves a job that is gone as it is', async () => {
    const { client } = fakeClient<IotApi>({
      cancelJob: awsError('ResourceNotFoundException', 'no job'),
    });

    await expect(iotJobs(client).cancelJob('ro-1-w0', 'aborted')).resolves.toBeUndefined();
  });

  it('cancelJob still fails when the job is in progress and AWS IoT refused anyway', async () => {
    const { client } = fakeClient<IotApi>({
      cancelJob: refused(),
      describeJob: { job: { jobId: 'ro-1-w0', status: 'IN_PROGRESS' } },
    });

    await expect(iotJobs(client).cancelJob('ro-1-w0', 'aborted')).rejects.toMatchObject({
      name: 'InvalidRequestException',
    });
  });

  it('cancelJob fails on anything else (throttling), without looking the job up', async () => {
    const { client, sent } = fakeClient<IotApi>({
      cancelJob: awsError('ThrottlingException', 'slow down'),
    });

    await expect(iotJobs(client).cancelJob('ro-1-w0', 'aborted')).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    expect(sent).toHaveLength(1);
  });

  it("endWave deletes the wave's thing group, and a group already gone is fine", async () => {
    const { client, sent } = fakeClient<IotApi>({
      deleteThingGroup: awsError('ResourceNotFoundException', 'no group'),
    });

    await expect(iotJobs(client).endWave('ro-1-w2')).resolves.toBeUndefined();
    expect(sent).toEqual([{ name: 'deleteThingGroup', input: { thingGroupName: 'edgeops-ro-1-w2' } }]);
  });
});

describe('SfnRolloutOrchestrator when the run ended first', () => {
  it.each(['SUCCEEDED', 'FAILED', 'ABORTED', 'TIMED_OUT'])(
    'stop leaves an execution that %s alone',
    async (status) => {
      const { client } = fakeClient<SfnApi>({
        stopExecution: awsError('ValidationException', 'Execution is not running'),
        describeExecution: { status },
      });

      await expect(sfnRun(client).stop('ro-1', 'aborted')).resolves.toBeUndefined();
    },
  );

  it('stop leaves an execution that never existed alone', async () => {
    const { client } = fakeClient<SfnApi>({
      stopExecution: awsError('ExecutionDoesNotExist', 'none'),
    });

    await expect(sfnRun(client).stop('ro-1', 'aborted')).resolves.toBeUndefined();
  });

  it('stop still fails when the execution runs on', async () => {
    const { client } = fakeClient<SfnApi>({
      stopExecution: awsError('ValidationException', 'bad request'),
      describeExecution: { status: 'RUNNING' },
    });

    await expect(sfnRun(client).stop('ro-1', 'aborted')).rejects.toMatchObject({
      name: 'ValidationException',
    });
  });

  it.each([
    ['TaskDoesNotExist', awsError('TaskDoesNotExist', 'no task')],
    ['TaskTimedOut', awsError('TaskTimedOut', 'timed out')],
    ['InvalidToken', awsError('InvalidToken', 'bad token')],
  ])('proceed answers gone for a stale token (%s)', async (_name, error) => {
    const { client } = fakeClient<SfnApi>({ sendTaskSuccess: error });

    expect(await sfnRun(client).proceed('token')).toBe('gone');
  });
});

/**
 * A store where the run changes a rollout between an operator action's read and its write: the
 * next conditional write first lets `race` happen.
 */
class RacingStore extends InMemoryRolloutStore {
  race?: () => Promise<void>;
  override async transition(
    rolloutId: string,
    from: readonly RolloutStatus[],
    change: Partial<Rollout>,
  ): Promise<Rollout> {
    const race = this.race;
    this.race = undefined;
    if (race) await race();
    return super.transition(rolloutId, from, change);
  }
}

/** The status the API answers with for what the action threw. */
const httpStatusOf = async (action: Promise<unknown>) => {
  try {
    await action;
    return 200;
  } catch (error) {
    return errorResponse(error).statusCode;
  }
};

async function running(store = new RacingStore()) {
  const t = rolloutHarness({ deviceCount: 4, rollouts: store });
  const { rollout } = await t.startRollout(t.request(), 'ops');
  await t.steps.next(rollout.rolloutId);
  await t.launchWave(rollout.rolloutId, 0);
  return { t, store, rolloutId: rollout.rolloutId };
}

/** The run moves the rollout on, as the state machine would, before the operator's write lands. */
const runMoves =
  (rollouts: RolloutStore, rolloutId: string, from: RolloutStatus[], to: RolloutStatus) => () =>
    rollouts.transition(rolloutId, from, { status: to }).then(() => {});

describe('operator controls racing the state machine', () => {
  it('pause after the run finished meanwhile is a 409 that says so', async () => {
    const { t, store, rolloutId } = await running();
    store.race = runMoves(store, rolloutId, ['running'], 'succeeded');

    const action = t.control(rolloutId, 'pause', 'ops');

    await expect(action).rejects.toThrow(`Cannot pause rollout ${rolloutId}: it is succeeded`);
    expect(await httpStatusOf(action)).toBe(409);
  });

  it('abort after the run finished meanwhile is a 409, and the success stands', async () => {
    const { t, store, rolloutId } = await running();
    store.race = runMoves(store, rolloutId, ['running'], 'succeeded');

    expect(await httpStatusOf(t.control(rolloutId, 'abort', 'ops'))).toBe(409);
    expect((await t.rollouts.getRollout(rolloutId))?.status).toBe('succeeded');
  });

  it("abort while the wave's job completed and the run ended answers 200", async () => {
    const { t, rolloutId } = await running();
    await t.playWave(rolloutId, 0, () => 'healthy'); // the job is COMPLETED now

    const aborted = await t.control(rolloutId, 'abort', 'ops');

    expect(aborted.status).toBe('aborted');
    expect(t.calls.stopped).toEqual([rolloutId]);
  });

  it('abort of an aborted rollout repeats its cleanup and answers 200', async () => {
    const { t, rolloutId } = await running();
    await t.control(rolloutId, 'abort', 'ops');

    const again = await t.control(rolloutId, 'abort', 'ops');

    expect(again.status).toBe('aborted');
    expect(t.calls.stopped).toEqual([rolloutId, rolloutId]);
  });

  it('resume while the run is parking the pause still resumes it', async () => {
    const { t, store, rolloutId } = await running();
    await t.control(rolloutId, 'pause', 'ops');
    // The run parks (token stored, pausing → paused) between the operator's read and write.
    store.race = async () => {
      await store.setTaskToken(rolloutId, 'token-1');
      await store.transition(rolloutId, ['pausing'], { status: 'paused' });
    };

    const resumed = await t.control(rolloutId, 'resume', 'ops');

    expect(resumed.status).toBe('running');
    expect(t.calls.proceeded).toEqual(['token-1']);
  });

  it.each([
    ['resume', 'pause', 'paused'],
    ['approve', 'approval', 'awaiting-approval'],
  ] as const)(
    '%s when nothing waits on the token any more fails the rollout and answers 409',
    async (action, kind, parked) => {
      const { t, rolloutId } = await running();
      if (kind === 'pause') await t.control(rolloutId, 'pause', 'ops');
      await t.steps.park(rolloutId, 'token-1', kind);
      expect((await t.rollouts.getRollout(rolloutId))?.status).toBe(parked);
      t.sfn.proceedAnswer = 'gone';

      const answer = t.control(rolloutId, action, 'ops');

      await expect(answer).rejects.toThrow(`its run ended while it was ${parked}, so it is failed now`);
      expect(await httpStatusOf(answer)).toBe(409);
      const after = await t.rollouts.getRollout(rolloutId);
      expect(after).toMatchObject({
        status: 'failed',
        haltReason: `The run ended while the rollout was ${parked}`,
      });
      expect((await t.rollouts.activeClaims(t.devices.map((d) => d.deviceId))).size).toBe(0);
    },
  );

  it('resume when resuming fails for another reason puts the rollout back, to try again', async () => {
    const { t, rolloutId } = await running();
    await t.control(rolloutId, 'pause', 'ops');
    await t.steps.park(rolloutId, 'token-1', 'pause');
    t.orchestrator.proceed = async () => {
      throw new Error('ThrottlingException');
    };

    await expect(t.control(rolloutId, 'resume', 'ops')).rejects.toThrow('ThrottlingException');

    expect((await t.rollouts.getRollout(rolloutId))?.status).toBe('paused');
    expect(await t.rollouts.getTaskToken(rolloutId)).toBe('token-1');
  });

  it('approve after an abort won the race is a 409', async () => {
    const { t, store, rolloutId } = await running();
    await t.steps.park(rolloutId, 'token-1', 'approval');
    store.race = runMoves(store, rolloutId, ['awaiting-approval'], 'aborted');

    const answer = t.control(rolloutId, 'approve', 'ops');

    await expect(answer).rejects.toThrow(`Cannot approve rollout ${rolloutId}: it is aborted`);
    expect(t.calls.proceeded).toEqual([]);
  });

  it('rollback while the rollback policy already rolls the rollout back is a 409', async () => {
    const t = rolloutHarness({ deviceCount: 4 });
    const { rollout } = await t.startRollout(
      t.request({ failurePolicy: 'rollback', waves: waves({ size: { count: 2 } }, {}) }),
      'ops',
    );
    // The canary's first device updates, the second fails: the halt rolls the first one back.
    const seen: string[] = [];
    const halted = await t.runToEnd(rollout.rolloutId, (id) => {
      seen.push(id);
      return seen.length === 1 ? 'healthy' : 'rolled-back';
    });
    expect(halted?.status).toBe('halted');
    const [, policyRollback] = t.calls.started;
    expect((await t.rollouts.getRollout(policyRollback as string))?.rollbackOf).toBe(rollout.rolloutId);

    const answer = t.rollback(rollout.rolloutId, 'ops');

    await expect(answer).rejects.toThrow(`being rolled back already, by ${policyRollback}`);
    expect(await httpStatusOf(answer)).toBe(409);
    expect(t.calls.started).toHaveLength(2);
  });
});

describe('rollback rollouts have a gate of their own', () => {
  it('halt when any device fails to go back: one wave, every device must return healthy', () => {
    expect(ROLLBACK_WAVE).toMatchObject({ size: { percent: 100 }, successThreshold: 100, maxFailures: 0 });
  });

  it('a rollback in which one device fails to go back halts', async () => {
    const t = rolloutHarness({ deviceCount: 3 });
    const { rollout } = await t.startRollout(t.request({ waves: waves({}) }), 'ops');
    expect((await t.runToEnd(rollout.rolloutId))?.status).toBe('succeeded');

    const { rollouts } = await t.rollback(rollout.rolloutId, 'ops');
    const [undo] = rollouts;
    expect(undo?.waves).toEqual([expect.objectContaining({ successThreshold: 100, maxFailures: 0 })]);
    const ended = await t.runToEnd(undo?.rolloutId as string, (id) =>
      id === 'd01' ? 'rolled-back' : 'healthy',
    );

    expect(ended?.status).toBe('halted');
    expect(ended?.haltReason).toMatch(/d01/);
  });

  it('a rollback in which every device goes back succeeds', async () => {
    const t = rolloutHarness({ deviceCount: 3 });
    const { rollout } = await t.startRollout(t.request({ waves: waves({}) }), 'ops');
    await t.runToEnd(rollout.rolloutId);

    const { rollouts } = await t.rollback(rollout.rolloutId, 'ops');
    const ended = await t.runToEnd(rollouts[0]?.rolloutId as string);

    expect(ended?.status).toBe('succeeded');
    expect(t.devices.every((d) => d.firmwareVersion === '1.0.0')).toBe(true);
  });
});

describe('RolloutStateError', () => {
  it('is what every refused control throws (the API maps it to 409)', () => {
    expect(errorResponse(new RolloutStateError('x')).statusCode).toBe(409);
  });
});
