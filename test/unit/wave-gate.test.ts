import { describe, expect, it } from 'vitest';
import {
  type DeviceExecution,
  deviceOutcome,
  funnelOf,
  gateWave,
  type JobExecutionStatus,
  progressOfWave,
  type Wave,
} from '../../functions/domain/rollout';

const now = new Date('2026-11-01T12:00:00Z');
const minutesAgo = (m: number) => new Date(now.getTime() - m * 60_000).toISOString();

const wave: Wave = {
  index: 0,
  deviceCount: 4,
  size: { count: 4 },
  soakSeconds: 600,
  successThreshold: 75,
  maxFailures: 1,
  requireApproval: false,
  status: 'running',
};

const exec = (deviceId: string, patch: Partial<DeviceExecution> = {}): DeviceExecution => ({
  rolloutId: 'ro-1',
  deviceId,
  waveIndex: 0,
  hardwareType: 'rpi4',
  site: 'a',
  fromVersion: '1.0.0',
  stage: 'queued',
  lastSeq: 0,
  ...patch,
});

const healthy = (deviceId: string, since = minutesAgo(30)) =>
  exec(deviceId, { stage: 'healthy', runningVersion: '1.1.0', healthySince: since });

describe('deviceOutcome', () => {
  it('does not count a device whose job succeeded but which never reported healthy', () => {
    expect(deviceOutcome(exec('d', { stage: 'rebooting' }), 'SUCCEEDED', '1.1.0', 0, now)).toBe('in-flight');
  });

  it('does not count a healthy device still inside its soak time', () => {
    expect(deviceOutcome(healthy('d', minutesAgo(5)), 'SUCCEEDED', '1.1.0', 600, now)).toBe('in-flight');
  });

  it('does not count a device healthy on another version', () => {
    expect(
      deviceOutcome(
        exec('d', { stage: 'healthy', runningVersion: '1.0.0', healthySince: minutesAgo(60) }),
        undefined,
        '1.1.0',
        600,
        now,
      ),
    ).toBe('in-flight');
  });

  it.each<[Partial<DeviceExecution>, JobExecutionStatus | undefined]>([
    [{ stage: 'rolled-back', reason: 'health-check-failed' }, 'FAILED'],
    [{ stage: 'failed' }, undefined],
    [{ stage: 'downloading' }, 'TIMED_OUT'],
    [{ stage: 'queued' }, 'REJECTED'],
  ])('counts %j with job %s as a failure', (patch, job) => {
    expect(deviceOutcome(exec('d', patch), job, '1.1.0', 0, now)).toBe('failure');
  });
});

describe('progressOfWave', () => {
  it('fails as soon as failures exceed the limit, naming the devices', () => {
    const executions = [
      exec('a', { stage: 'rolled-back', reason: 'health-check-failed' }),
      exec('b', { stage: 'failed', reason: 'sha256-mismatch' }),
      exec('c'),
      exec('d'),
    ];
    const verdict = progressOfWave(wave, executions, new Map(), '1.1.0', now);
    expect(verdict.outcome).toBe('failed');
    expect(verdict.outcome === 'failed' && verdict.reason).toMatch(
      /a: health-check-failed.*b: sha256-mismatch/,
    );
  });

  it('counts devices with no result by the deadline as failed, naming them', () => {
    const executions = [healthy('a'), healthy('b'), healthy('c'), exec('d', { stage: 'queued' })];
    const verdict = progressOfWave(
      { ...wave, maxFailures: 0 },
      executions,
      new Map(),
      '1.1.0',
      now,
      new Date(now.getTime() - 1),
    );
    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringMatching(/d: no result by the wave deadline/),
    });
  });

  it('is settled once no device is in flight', () => {
    const executions = [
      healthy('a', minutesAgo(0)),
      healthy('b'),
      healthy('c'),
      exec('d', { stage: 'failed' }),
    ];
    expect(progressOfWave(wave, executions, new Map(), '1.1.0', now).outcome).toBe('settled');
  });
});

describe('gateWave', () => {
  it('passes when enough devices stayed healthy through the soak and failures are within the limit', () => {
    const executions = [healthy('a'), healthy('b'), healthy('c'), exec('d', { stage: 'rolled-back' })];
    expect(gateWave(wave, executions, new Map(), '1.1.0', now).outcome).toBe('passed');
  });

  it('fails below the success threshold, with the reason', () => {
    const executions = [
      healthy('a'),
      healthy('b'),
      exec('c', { stage: 'rebooting' }),
      exec('d', { stage: 'failed' }),
    ];
    const verdict = gateWave(wave, executions, new Map(), '1.1.0', now);
    expect(verdict).toMatchObject({
      outcome: 'failed',
      reason: expect.stringMatching(/2 of 4 devices healthy.*75%/),
    });
  });
});

describe('funnelOf', () => {
  it('counts devices per stage for each wave, a failed job as failed', () => {
    const executions = [
      healthy('a'),
      exec('b', { stage: 'downloading' }),
      exec('c', { stage: 'downloading' }),
      exec('d', { waveIndex: 1, stage: 'pending' }),
    ];
    const funnels = funnelOf(2, executions, new Map([['c', 'TIMED_OUT']]));
    expect(funnels[0]).toMatchObject({ healthy: 1, downloading: 1, failed: 1 });
    expect(funnels[1]).toMatchObject({ pending: 1 });
  });
});
