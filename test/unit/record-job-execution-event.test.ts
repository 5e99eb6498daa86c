import { describe, expect, it } from 'vitest';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import type { DeviceExecution, JobExecutionStatus } from '../../functions/domain/rollout';
import type { RolloutStore } from '../../functions/ports/rollout-store';
import { makeRecordJobExecutionEvent } from '../../functions/use-cases/rollouts/record-job-execution-event';
import { createRolloutWith, rolloutFixture } from './rollout-fixtures';

const ROLLOUT = 'ro-0123456789ab';

/** A store that records what it was asked to apply and answers `applied`. */
function recordingStore(applied = true) {
  const calls: unknown[][] = [];
  const rollouts: Pick<RolloutStore, 'applyJobExecutionStatus'> = {
    applyJobExecutionStatus: async (...args) => {
      calls.push(args);
      return applied;
    },
  };
  return { rollouts, calls };
}

const report = (status: JobExecutionStatus, jobId = `${ROLLOUT}-w1`, deviceId = 'gw-1') => ({
  jobId,
  deviceId,
  status,
});

describe('recordJobExecutionEvent', () => {
  it.each<JobExecutionStatus>(['FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED', 'REMOVED'])(
    'records %s on the execution of the rollout and wave the job id names',
    async (status) => {
      const { rollouts, calls } = recordingStore();

      const outcome = await makeRecordJobExecutionEvent({ rollouts })(report(status, `${ROLLOUT}-w12`));

      expect(outcome).toBe('applied');
      expect(calls).toEqual([[ROLLOUT, 12, 'gw-1', status]]);
    },
  );

  it.each<JobExecutionStatus>(['SUCCEEDED', 'QUEUED', 'IN_PROGRESS'])(
    'records nothing for %s: success is the device’s own report, and it ends nothing',
    async (status) => {
      const { rollouts, calls } = recordingStore();

      expect(await makeRecordJobExecutionEvent({ rollouts })(report(status))).toBe('not-recorded');
      expect(calls).toEqual([]);
    },
  );

  it.each(['firmware-hotfix', `${ROLLOUT}-w`, `${ROLLOUT}-w1234`, '-w1'])(
    'records nothing for %s, which is not a wave job',
    async (jobId) => {
      const { rollouts, calls } = recordingStore();

      expect(await makeRecordJobExecutionEvent({ rollouts })(report('FAILED', jobId))).toBe('not-a-wave-job');
      expect(calls).toEqual([]);
    },
  );

  it('says ignored when the store had nothing to change', async () => {
    const { rollouts } = recordingStore(false);

    expect(await makeRecordJobExecutionEvent({ rollouts })(report('FAILED'))).toBe('ignored');
  });
});

describe('recordJobExecutionEvent on the in-memory rollout store', () => {
  const rollout = rolloutFixture({ rolloutId: ROLLOUT });
  const execution: DeviceExecution = {
    rolloutId: ROLLOUT,
    deviceId: 'gw-1',
    waveIndex: 0,
    hardwareType: 'rpi4',
    site: 's',
    stage: 'queued',
    lastSeq: 0,
  };
  const setup = async () => {
    const rollouts = new InMemoryRolloutStore();
    await createRolloutWith(rollouts, rollout, [execution]);
    return { rollouts, record: makeRecordJobExecutionEvent({ rollouts }) };
  };
  const jobStatusOf = async (rollouts: RolloutStore) =>
    (await rollouts.listExecutions(ROLLOUT, 0))[0]?.jobStatus;

  it('applies a status once: the same event delivered again changes nothing', async () => {
    const { rollouts, record } = await setup();

    expect(await record(report('FAILED', `${ROLLOUT}-w0`))).toBe('applied');
    expect(await record(report('FAILED', `${ROLLOUT}-w0`))).toBe('ignored');

    expect(await jobStatusOf(rollouts)).toBe('FAILED');
  });

  it('keeps a final status when a later event names another', async () => {
    const { rollouts, record } = await setup();
    await record(report('REJECTED', `${ROLLOUT}-w0`));

    expect(await record(report('TIMED_OUT', `${ROLLOUT}-w0`))).toBe('ignored');

    expect(await jobStatusOf(rollouts)).toBe('REJECTED');
  });

  it('ignores a device with no execution in that wave', async () => {
    const { record } = await setup();

    expect(await record(report('FAILED', `${ROLLOUT}-w0`, 'gw-stranger'))).toBe('ignored');
    expect(await record(report('FAILED', `${ROLLOUT}-w3`))).toBe('ignored');
  });
});
