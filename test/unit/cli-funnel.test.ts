import { describe, expect, it } from 'vitest';
import {
  FunnelScreen,
  funnelBar,
  outcomeExitCode,
  type RolloutStatusView,
  renderFunnel,
  renderOutcome,
  watchRollout,
} from '../../cli/funnel';
import { progressBar, renderProgress, uploadHeaders } from '../../cli/upload';

const view = (
  status: string,
  waves: RolloutStatusView['waves'],
  haltReason: string | null = null,
): RolloutStatusView => ({
  rolloutId: 'ro-0123456789ab',
  releaseId: 'rel-1.1.0',
  version: '1.1.0',
  status,
  haltReason,
  currentWave: 1,
  waves,
});

const running = view('running', [
  { wave: 1, status: 'running', deviceCount: 6, funnel: { healthy: 3, downloading: 2, 'rolled-back': 1 } },
  { wave: 2, status: 'pending', deviceCount: 24, funnel: { pending: 24 } },
]);

describe('funnel rendering', () => {
  it('draws one line per wave with every stage counted', () => {
    expect(renderFunnel(running)).toEqual([
      'rollout ro-0123456789ab  rel-1.1.0 (1.1.0)  running  wave 1 of 2',
      '  wave 1  running    6 devices [##########xxx~~~~~~~]  pending 0  queued 0  downloading 2  installing 0  rebooting 0  healthy 3  failed 0  rolled-back 1',
      '  wave 2  pending   24 devices [....................]  pending 24  queued 0  downloading 0  installing 0  rebooting 0  healthy 0  failed 0  rolled-back 0',
    ]);
  });

  it('gives a kind with any device at least one cell of the bar', () => {
    expect(funnelBar({ healthy: 99, failed: 1 }, 100, 10)).toBe('[#########x]');
    expect(funnelBar({}, 0, 4)).toBe('[....]');
  });

  it('cuts lines to the terminal width', () => {
    for (const line of renderFunnel(running, { width: 40 })) expect(line.length).toBeLessThanOrEqual(40);
  });

  it('ends a halted rollout with the reason and the devices that failed', () => {
    const halted = view(
      'halted',
      running.waves,
      'Wave 1: 1 device(s) failed, more than the 0 allowed (sim-0004)',
    );
    expect(
      renderOutcome(halted, [
        { deviceId: 'sim-0004', stage: 'rolled-back', wave: 1, reason: 'health-check-failed' },
      ]),
    ).toEqual([
      'Halted: Wave 1: 1 device(s) failed, more than the 0 allowed (sim-0004)',
      'Devices that did not take 1.1.0:',
      '  sim-0004  rolled-back  wave 1  health-check-failed',
    ]);
    expect(outcomeExitCode('halted')).toBe(1);
    expect(outcomeExitCode('aborted')).toBe(1);
    expect(outcomeExitCode('failed')).toBe(1);
    expect(outcomeExitCode('succeeded')).toBe(0);
  });

  it('shows at most the limit of failed devices and counts the rest', () => {
    const failed = Array.from({ length: 25 }, (_, i) => ({ deviceId: `d${i}`, stage: 'failed' }));
    const lines = renderOutcome(view('halted', running.waves, 'x'), failed, 20);
    expect(lines.at(-1)).toBe('  … and 5 more');
  });
});

describe('FunnelScreen', () => {
  it('redraws in place on a terminal: cursor up over the last frame, clear, draw', () => {
    let out = '';
    const screen = new FunnelScreen({ write: (t: string) => (out += t) }, true);
    screen.draw(running);
    expect(out).not.toContain('\x1b[');
    out = '';
    screen.draw(running);
    expect(out.startsWith('\x1b[3F\x1b[0J')).toBe(true);
  });

  it('writes a timestamped frame only when something changed when not a terminal', () => {
    let out = '';
    const screen = new FunnelScreen(
      { write: (t: string) => (out += t) },
      false,
      () => new Date('2026-11-28T10:11:12Z'),
    );
    screen.draw(running);
    screen.draw(running);
    expect(out.match(/^10:11:12 {2}rollout/gm)).toHaveLength(1);
    screen.draw(view('halted', running.waves, 'x'));
    expect(out.match(/^10:11:12 {2}rollout/gm)).toHaveLength(2);
    expect(out).not.toContain('\x1b[');
  });
});

describe('watchRollout', () => {
  it('polls until the rollout ends, then reads the failed devices', async () => {
    const states = [running, running, view('halted', running.waves, 'reason')];
    const drawn: string[] = [];
    let sleeps = 0;
    const result = await watchRollout(
      {
        getRollout: async () => states.shift() ?? running,
        failedDevices: async () => [{ deviceId: 'sim-0004', stage: 'failed' }],
        sleep: async () => {
          sleeps++;
        },
        now: () => new Date(0),
      },
      { intervalMs: 1000, draw: (v) => drawn.push(v.status) },
    );
    expect(drawn).toEqual(['running', 'running', 'halted']);
    expect(sleeps).toBe(2);
    expect(result).toMatchObject({
      timedOut: false,
      view: { status: 'halted' },
      failed: [{ deviceId: 'sim-0004' }],
    });
  });

  it('stops at the timeout while the rollout still runs', async () => {
    let t = 0;
    const result = await watchRollout(
      {
        getRollout: async () => running,
        failedDevices: async () => [],
        sleep: async (ms) => {
          t += ms;
        },
        now: () => new Date(t),
      },
      { intervalMs: 1000, timeoutMs: 3000 },
    );
    expect(result.timedOut).toBe(true);
    expect(t).toBe(3000);
  });
});

describe('upload progress', () => {
  it('renders the share, bytes and rate', () => {
    expect(renderProgress(5 * 1024 * 1024, 10 * 1024 * 1024, 2000, 10)).toBe(
      '[#####-----]  50%  5.0 MiB of 10.0 MiB  2.5 MiB/s',
    );
    expect(renderProgress(0, 0, 0, 4)).toBe('[####] 100%  0 B of 0 B  0 B/s');
  });

  it('writes a line per tenth when not a terminal, and redraws one line on a terminal', () => {
    let plain = '';
    const bar = progressBar({ write: (t: string) => (plain += t) }, false, 1000, () => 1000);
    for (let sent = 0; sent <= 1000; sent += 50) bar.update(sent);
    expect(plain.trim().split('\n')).toHaveLength(11);
    expect(plain).toContain('100%');

    let tty = '';
    let now = 0;
    const live = progressBar({ write: (t: string) => (tty += t) }, true, 1000, () => (now += 200));
    live.update(500);
    live.update(1000);
    live.done();
    expect(tty.split('\r').filter(Boolean)).toHaveLength(2);
    expect(tty.endsWith('\n')).toBe(true);
  });

  it('adds the TLS header only to local AWS plain-HTTP URLs', () => {
    expect(uploadHeaders('http://127.0.0.1:4566/bucket/key?X-Amz-Signature=x')).toEqual({
      'x-forwarded-proto': 'https',
    });
    expect(uploadHeaders('https://bucket.s3.eu-west-1.amazonaws.com/key?X-Amz-Signature=x')).toEqual({});
  });
});
