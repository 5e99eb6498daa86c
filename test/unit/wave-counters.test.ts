import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OTA_STAGES, type OtaEventV1 } from '../../contract/ota';
import { InMemoryJobDispatcher } from '../../functions/adapters/in-memory-job-dispatcher';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import type { DeviceExecution, JobExecutionStatus, Rollout, Wave } from '../../functions/domain/rollout';
import { countsOf } from '../../functions/domain/wave-counters';
import type { RolloutStore } from '../../functions/ports/rollout-store';
import { makeListRolloutDevices } from '../../functions/use-cases/rollouts/rollout-status';
import { makeCheckWave } from '../../functions/use-cases/rollouts/run-waves';
import { createRolloutWith, rolloutFixture, waveFixture } from './rollout-fixtures';

const ROLLOUT = 'ro-0123456789ab';
const wave = (index: number, deviceCount: number, patch: Partial<Wave> = {}): Wave =>
  waveFixture(index, {
    successThreshold: 50,
    maxFailures: 1,
    deviceCount,
    startedAt: new Date(Date.now() - 60_000).toISOString(),
    ...patch,
  });
const rolloutWith = (waves: Wave[]): Rollout => rolloutFixture({ rolloutId: ROLLOUT, waves });
const execution = (deviceId: string, waveIndex = 0): DeviceExecution => ({
  rolloutId: ROLLOUT,
  deviceId,
  waveIndex,
  targetVersion: '2.0.0',
  hardwareType: 'rpi4',
  site: 's',
  fromVersion: '1.0.0',
  stage: 'pending',
  lastSeq: -1,
});
const event = (deviceId: string, seq: number, stage: OtaEventV1['stage'], waveIndex = 0): OtaEventV1 => ({
  schema: 'edgeops.ota-event.v1',
  eventId: randomUUID(),
  deviceId,
  rolloutId: ROLLOUT,
  jobId: `${ROLLOUT}-w${waveIndex}`,
  stage,
  runningVersion: stage === 'healthy' ? '2.0.0' : '1.0.0',
  slot: 'B',
  at: Date.now(),
  seq,
  ...(stage === 'failed' ? { reason: 'sha256-mismatch' } : {}),
});

async function storeWith(deviceCount: number, waves = [wave(0, deviceCount)]) {
  const rollouts = new InMemoryRolloutStore();
  const executions = Array.from({ length: deviceCount }, (_, i) =>
    execution(`d${String(i).padStart(5, '0')}`),
  );
  await createRolloutWith(rollouts, rolloutWith(waves), executions);
  return rollouts;
}

/** Counts the store calls a use case makes. */
function counting(store: RolloutStore) {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(name));
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const JOB_STATUSES: JobExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'REJECTED', 'TIMED_OUT', 'CANCELED'];

describe('wave counters', () => {
  it('always equal a recount of the executions, whatever events arrive, repeated or out of order', async () => {
    const update = fc.oneof(
      fc.record({
        kind: fc.constant('ota' as const),
        device: fc.integer({ min: 0, max: 4 }),
        seq: fc.integer({ min: 0, max: 8 }),
        stage: fc.constantFrom(...OTA_STAGES),
        bytes: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: undefined }),
        delta: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('job' as const),
        device: fc.integer({ min: 0, max: 4 }),
        status: fc.constantFrom(...JOB_STATUSES),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(update, { maxLength: 40 }), async (updates) => {
        const rollouts = await storeWith(5);
        for (const u of updates) {
          const deviceId = `d0000${u.device}`;
          if (u.kind === 'job') {
            await rollouts.applyJobExecutionStatus(ROLLOUT, 0, deviceId, u.status);
          } else {
            await rollouts.applyOtaEvent(
              {
                ...event(deviceId, u.seq, u.stage),
                ...(u.bytes === undefined
                  ? {}
                  : {
                      bytesDownloaded: u.bytes,
                      transfer: { mode: u.delta ? 'delta' : 'full', imageBytes: 1000 },
                    }),
              },
              0,
            );
          }
        }
        const [counts] = await rollouts.waveCounts(ROLLOUT);
        expect(counts).toEqual(countsOf(await rollouts.listExecutions(ROLLOUT)));
      }),
    );
  });

  it('count a timed-out device as failed until it works on its job again (the retry)', async () => {
    const rollouts = await storeWith(1);
    await rollouts.applyOtaEvent(event('d00000', 1, 'downloading'), 0);
    await rollouts.applyJobExecutionStatus(ROLLOUT, 0, 'd00000', 'TIMED_OUT');
    expect((await rollouts.waveCounts(ROLLOUT))[0]).toMatchObject({ failed: 1, downloading: 0 });

    await rollouts.applyOtaEvent(event('d00000', 2, 'downloading'), 0);

    expect((await rollouts.waveCounts(ROLLOUT))[0]).toMatchObject({ failed: 0, downloading: 1 });
  });

  it('ignore a status that repeats or follows a final one', async () => {
    const rollouts = await storeWith(1);
    expect(await rollouts.applyJobExecutionStatus(ROLLOUT, 0, 'd00000', 'REJECTED')).toBe(true);
    expect(await rollouts.applyJobExecutionStatus(ROLLOUT, 0, 'd00000', 'REJECTED')).toBe(false);
    expect(await rollouts.applyJobExecutionStatus(ROLLOUT, 0, 'd00000', 'CANCELED')).toBe(false);
    expect(await rollouts.applyJobExecutionStatus(ROLLOUT, 0, 'nobody', 'FAILED')).toBe(false);
  });
});

describe('checkWave', () => {
  const check = (rollouts: RolloutStore, jobs = new InMemoryJobDispatcher()) =>
    makeCheckWave({ rollouts, jobs, clock: { now: () => new Date() }, waveTimeoutMinutes: 60 });

  it('reads the same few items for a wave of 10 devices and of 5000', async () => {
    const reads: number[] = [];
    for (const size of [10, 5000]) {
      const rollouts = await storeWith(size);
      await rollouts.applyOtaEvent(event('d00001', 1, 'failed'), 0);
      const { store, calls } = counting(rollouts);
      await check(store)(ROLLOUT, 0, 'progress');
      reads.push(calls.length);
      expect(calls).not.toContain('listExecutions');
    }
    expect(reads[0]).toBe(reads[1]);
    expect(reads[0]).toBeLessThanOrEqual(3);
  });

  it('names the failed devices in the halt reason', async () => {
    const rollouts = await storeWith(4);
    await rollouts.applyOtaEvent(event('d00001', 1, 'failed'), 0);
    await rollouts.applyOtaEvent(event('d00002', 1, 'failed'), 0);

    const verdict = await check(rollouts)(ROLLOUT, 0, 'progress');

    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringMatching(/d00001: sha256-mismatch, d00002: sha256-mismatch/),
    });
  });

  it('past the deadline: counts devices in flight as failed, stops the job, and shows them failed', async () => {
    const started = new Date(Date.now() - 2 * 60 * 60_000).toISOString();
    const rollouts = await storeWith(4, [
      wave(0, 4, { startedAt: started, jobId: `${ROLLOUT}-w0`, maxFailures: 2 }),
    ]);
    const jobs = new InMemoryJobDispatcher();
    await jobs.addToWave(`${ROLLOUT}-w0`, ['d00000', 'd00001', 'd00002', 'd00003']);
    await jobs.startJob(`${ROLLOUT}-w0`, {} as never);
    for (const id of ['d00000', 'd00001']) await rollouts.applyOtaEvent(event(id, 1, 'healthy'), 0);

    const verdict = await check(rollouts, jobs)(ROLLOUT, 0, 'progress');

    expect(verdict).toMatchObject({ outcome: 'settled', tally: { successes: 2, failures: 2, inFlight: 0 } });
    expect(jobs.canceled).toEqual([`${ROLLOUT}-w0`]);
    const late = await makeListRolloutDevices({ rollouts })(ROLLOUT, { stage: 'failed', limit: 10 });
    expect(late.items.map((e) => [e.deviceId, e.stage, e.reason])).toEqual([
      ['d00002', 'failed', 'no result by the wave deadline (last stage pending)'],
      ['d00003', 'failed', 'no result by the wave deadline (last stage pending)'],
    ]);
  });
});

describe('listRolloutDevices', () => {
  it('pages a stage exactly as the funnel counts it, a bounded page at a time', async () => {
    const rollouts = await storeWith(25, [wave(0, 25)]);
    for (let i = 0; i < 10; i++)
      await rollouts.applyOtaEvent(event(`d0000${i}`.slice(-6), 1, 'downloading'), 0);
    const list = makeListRolloutDevices({ rollouts });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await list(ROLLOUT, { stage: 'queued', limit: 4, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(4);
      seen.push(...page.items.map((e) => `${e.deviceId}:${e.stage}`));
      cursor = page.nextCursor;
    } while (cursor);
    // The wave started: its 15 devices that have not reported yet are queued, not pending.
    expect(seen).toHaveLength(15);
    expect(seen.every((s) => s.endsWith(':queued'))).toBe(true);
  });
});
