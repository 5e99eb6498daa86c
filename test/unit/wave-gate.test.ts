import { describe, expect, it } from 'vitest';
import {
  type DeviceExecution,
  displayedFunnel,
  type FailedSample,
  gateWave,
  type JobExecutionStatus,
  progressOfWave,
  tallyOf,
  type Wave,
} from '../../functions/domain/rollout';
import { bucketOf, countsOf } from '../../functions/domain/wave-counters';

const now = new Date('2026-11-01T12:00:00Z');

const wave: Wave = {
  index: 0,
  deviceCount: 4,
  size: { count: 4 },
  soakSeconds: 600,
  successThreshold: 75,
  maxFailures: 1,
  requireApproval: false,
  status: 'running',
  startedAt: '2026-11-01T11:00:00Z',
};

const exec = (deviceId: string, patch: Partial<DeviceExecution> = {}): DeviceExecution => ({
  rolloutId: 'ro-1',
  deviceId,
  waveIndex: 0,
  targetVersion: '1.1.0',
  hardwareType: 'rpi4',
  site: 'a',
  fromVersion: '1.0.0',
  stage: 'queued',
  lastSeq: 0,
  ...patch,
});

const healthy = (deviceId: string) => exec(deviceId, { stage: 'healthy', runningVersion: '1.1.0' });
/** The tally the wave's counters hold for these executions. */
const tally = (...executions: DeviceExecution[]) => tallyOf(countsOf(executions));
const sampleOf = (...executions: DeviceExecution[]): FailedSample =>
  executions.map((e) => ({ deviceId: e.deviceId, reason: e.reason ?? e.stage }));

describe('bucketOf', () => {
  it('does not count a device whose job succeeded but which never reported healthy', () => {
    expect(bucketOf(exec('d', { stage: 'rebooting', jobStatus: 'SUCCEEDED' }))).toBe('rebooting');
  });

  it('does not count a device healthy on another version as healthy', () => {
    expect(bucketOf(exec('d', { stage: 'healthy', runningVersion: '1.0.0' }))).toBe('rebooting');
  });

  it('counts a device healthy on the target version as healthy, even if its job then timed out', () => {
    expect(bucketOf(exec('d', { stage: 'healthy', runningVersion: '1.1.0', jobStatus: 'TIMED_OUT' }))).toBe(
      'healthy',
    );
  });

  it.each<[Partial<DeviceExecution>, JobExecutionStatus | undefined, string]>([
    [{ stage: 'rolled-back', reason: 'health-check-failed' }, 'FAILED', 'rolled-back'],
    [{ stage: 'failed' }, undefined, 'failed'],
    [{ stage: 'downloading' }, 'TIMED_OUT', 'failed'],
    [{ stage: 'queued' }, 'REJECTED', 'failed'],
    [{ stage: 'queued' }, 'CANCELED', 'failed'],
    [{ stage: 'healthy', runningVersion: '1.1.0' }, 'FAILED', 'failed'],
  ])('counts %j with job %s as %s', (patch, jobStatus, bucket) => {
    expect(bucketOf(exec('d', { ...patch, ...(jobStatus ? { jobStatus } : {}) }))).toBe(bucket);
  });
});

describe('progressOfWave', () => {
  it('fails as soon as failures exceed the limit, naming the devices', () => {
    const failed = [
      exec('a', { stage: 'rolled-back', reason: 'health-check-failed' }),
      exec('b', { stage: 'failed', reason: 'sha256-mismatch' }),
    ];
    const verdict = progressOfWave(wave, tally(...failed, exec('c'), exec('d')), sampleOf(...failed), now);
    expect(verdict.outcome).toBe('failed');
    expect(verdict.outcome === 'failed' && verdict.reason).toMatch(
      /2 device\(s\) failed.*a: health-check-failed.*b: sha256-mismatch/,
    );
  });

  it('counts devices with no result by the deadline as failed, and says so', () => {
    const verdict = progressOfWave(
      { ...wave, maxFailures: 0 },
      tally(healthy('a'), healthy('b'), healthy('c'), exec('d', { stage: 'queued' })),
      [],
      now,
      new Date(now.getTime() - 1),
    );
    expect(verdict).toMatchObject({
      outcome: 'failed',
      tally: { failures: 1, inFlight: 0 },
      reason: expect.stringMatching(/1 of them had no result by the wave deadline/),
    });
  });

  it('keeps running before the deadline while devices are in flight', () => {
    const verdict = progressOfWave(
      wave,
      tally(healthy('a'), exec('b')),
      [],
      now,
      new Date(now.getTime() + 1),
    );
    expect(verdict.outcome).toBe('running');
  });

  it('is settled once no device is in flight', () => {
    const t = tally(healthy('a'), healthy('b'), healthy('c'), exec('d', { stage: 'failed' }));
    expect(progressOfWave(wave, t, [], now).outcome).toBe('settled');
  });
});

describe('gateWave', () => {
  it('passes when enough devices stayed healthy through the soak and failures are within the limit', () => {
    const t = tally(healthy('a'), healthy('b'), healthy('c'), exec('d', { stage: 'rolled-back' }));
    expect(gateWave(wave, t, []).outcome).toBe('passed');
  });

  it('fails below the success threshold, with the reason', () => {
    const t = tally(
      healthy('a'),
      healthy('b'),
      exec('c', { stage: 'rebooting' }),
      exec('d', { stage: 'failed' }),
    );
    expect(gateWave(wave, t, [])).toMatchObject({
      outcome: 'failed',
      reason: expect.stringMatching(/2 of 4 devices healthy.*75%/),
    });
  });

  it('counts devices still in flight as failed once the wave deadline passed', () => {
    const t = tally(healthy('a'), healthy('b'), exec('c'), exec('d'));
    expect(gateWave({ ...wave, deadlinePassed: true }, t, [])).toMatchObject({
      outcome: 'failed',
      tally: { failures: 2 },
    });
  });
});

describe('displayedFunnel', () => {
  const counts = countsOf([
    healthy('a'),
    exec('b', { stage: 'downloading' }),
    exec('c', { stage: 'downloading', jobStatus: 'TIMED_OUT' }),
    exec('d', { stage: 'pending' }),
  ]);

  it('counts devices per stage, a timed-out job as failed, and no device pending once the wave started', () => {
    expect(displayedFunnel(wave, counts)).toMatchObject({
      pending: 0,
      queued: 1,
      healthy: 1,
      downloading: 1,
      failed: 1,
    });
  });

  it('keeps devices of a wave not started yet pending', () => {
    expect(displayedFunnel({ status: 'pending' } as Wave, counts)).toMatchObject({ pending: 1, queued: 0 });
  });

  it('shows devices still in flight past the wave deadline as failed', () => {
    expect(displayedFunnel({ ...wave, deadlinePassed: true }, counts)).toMatchObject({
      healthy: 1,
      failed: 3,
      downloading: 0,
      queued: 0,
    });
  });
});
