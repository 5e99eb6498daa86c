import { describe, expect, it } from 'vitest';
import { agentLog } from '../../device/daemon/agent-daemon';
import { journalLog, redact, stdoutIsJournal } from '../../device/daemon/journal-log';
import { systemdNotifier } from '../../device/daemon/sd-notify';

const capture = (options: { level: 'error' | 'warning' | 'info' | 'debug'; priorityPrefix: boolean }) => {
  const lines: string[] = [];
  return { lines, log: journalLog({ ...options, write: (line) => lines.push(line) }) };
};

describe('journalLog', () => {
  it('writes one line per message with the sd-daemon priority prefix', () => {
    const { lines, log } = capture({ level: 'debug', priorityPrefix: true });

    log.error('a');
    log.warning('b');
    log.info('c');
    log.debug('d');

    expect(lines).toEqual(['<3>a\n', '<4>b\n', '<6>c\n', '<7>d\n']);
  });

  it('leaves out the prefix when asked, and messages below the level', () => {
    const { lines, log } = capture({ level: 'warning', priorityPrefix: false });

    log.info('not shown');
    log.debug('not shown');
    log.warning('shown');

    expect(lines).toEqual(['shown\n']);
  });

  it('keeps a multi-line message (a stack) on one line', () => {
    const { lines, log } = capture({ level: 'info', priorityPrefix: true });

    log.error('fatal: Error: boom\n    at a (x.ts:1)\n    at b (y.ts:2)\n');

    expect(lines).toEqual(['<3>fatal: Error: boom | at a (x.ts:1) | at b (y.ts:2)\n']);
  });

  it('never writes a private key or a presigned URL credential', () => {
    const { lines, log } = capture({ level: 'info', priorityPrefix: false });
    const key = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBsecretsecret\n-----END EC PRIVATE KEY-----';
    const url =
      'https://bucket.s3.eu-west-1.amazonaws.com/a/b.img?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAEXAMPLE%2F20261127&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok';

    log.info(`loaded ${key} and fetched ${url} then`);
    log.info('retrying X-Amz-Signature=deadbeef&X-Amz-Credential=AKIAEXAMPLE');

    expect(lines[0]).toBe(
      'loaded [private key redacted] and fetched https://bucket.s3.eu-west-1.amazonaws.com/a/b.img?[query redacted] then\n',
    );
    expect(lines[1]).toBe('retrying X-Amz-Signature=[redacted]&X-Amz-Credential=[redacted]\n');
    expect(lines.join('')).not.toMatch(/secret|deadbeef|AKIAEXAMPLE|tok\b/);
  });

  it('redacts a private key cut off before its END line', () => {
    expect(redact('key: -----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG')).toBe('key: [private key redacted]');
  });
});

describe('stdoutIsJournal', () => {
  it('is true only when JOURNAL_STREAM names the fd’s own device and inode', async () => {
    const { fstatSync, openSync, closeSync } = await import('node:fs');
    const fd = openSync('/dev/null', 'w');
    try {
      const { dev, ino } = fstatSync(fd);

      expect(stdoutIsJournal({ JOURNAL_STREAM: `${dev}:${ino}` }, fd)).toBe(true);
      expect(stdoutIsJournal({ JOURNAL_STREAM: `${dev}:${ino + 1}` }, fd)).toBe(false);
      expect(stdoutIsJournal({}, fd)).toBe(false);
    } finally {
      closeSync(fd);
    }
  });
});

describe('agentLog', () => {
  const setup = () => {
    const { lines, log } = capture({ level: 'debug', priorityPrefix: true });
    let now = 0;
    return { lines, write: agentLog('dev-1', log, () => now), advance: (ms: number) => (now += ms) };
  };

  it('drops the device prefix and makes trouble a warning', () => {
    const { lines, write } = setup();

    write('[dev-1] rebooting');
    write('[dev-1] mqtt error: connect ECONNREFUSED 10.0.0.1:8883');

    expect(lines).toEqual(['<6>rebooting\n', '<4>mqtt error: connect ECONNREFUSED 10.0.0.1:8883\n']);
  });

  it('logs a run of the same message once, then how often it repeated', () => {
    const { lines, write, advance } = setup();

    for (let i = 0; i < 5; i++) {
      write('[dev-1] mqtt error: connect ETIMEDOUT');
      advance(2_000);
    }
    write('[dev-1] offline');

    expect(lines).toEqual([
      '<4>mqtt error: connect ETIMEDOUT\n',
      '<6>(the message before repeated 4 more times)\n',
      '<6>offline\n',
    ]);
  });

  it('logs the same message again once the repeat window has passed', () => {
    const { lines, write, advance } = setup();

    write('[dev-1] offline');
    advance(6 * 60_000);
    write('[dev-1] offline');

    expect(lines).toEqual(['<6>offline\n', '<6>offline\n']);
  });
});

describe('systemdNotifier', () => {
  it('does nothing without NOTIFY_SOCKET', async () => {
    const notifier = systemdNotifier({
      env: { WATCHDOG_USEC: '1000000' },
      command: '/nonexistent/systemd-notify',
    });

    await notifier.notify('READY=1');

    expect(notifier.enabled).toBe(false);
    expect(notifier.watchdogIntervalMs).toBeUndefined();
  });

  it('takes the variables out of the environment, so children cannot notify in its name', () => {
    const env: NodeJS.ProcessEnv = {
      NOTIFY_SOCKET: '/run/x',
      WATCHDOG_USEC: '30000000',
      WATCHDOG_PID: '7',
      PATH: '/bin',
    };

    systemdNotifier({ env, pid: 7 });

    expect(env).toEqual({ PATH: '/bin' });
  });

  it('pings the watchdog at half its period, and only when the watchdog is for this process', () => {
    const ours = systemdNotifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000' }, pid: 7 });
    const another = systemdNotifier({
      env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '8' },
      pid: 7,
    });

    expect(ours.watchdogIntervalMs).toBe(15_000);
    expect(another.watchdogIntervalMs).toBeUndefined();
  });

  it('turns itself off, with one warning, when systemd-notify is not installed', async () => {
    const warnings: string[] = [];
    const notifier = systemdNotifier({
      env: { NOTIFY_SOCKET: '/run/x' },
      command: '/nonexistent/systemd-notify',
      log: { warning: (m) => warnings.push(m), debug: () => {} },
    });

    await notifier.notify('READY=1');
    await notifier.notify('STATUS=x');

    expect(notifier.enabled).toBe(false);
    expect(warnings).toEqual([
      '/nonexistent/systemd-notify not found: cannot tell systemd about readiness or the watchdog',
    ]);
  });
});
