/**
 * sd_notify(3) for a Node process: READY=1, STATUS=…, WATCHDOG=1 and STOPPING=1 to systemd.
 *
 * Node has no unix datagram sockets, and the agent ships without native code, so each message is
 * sent by running `systemd-notify` (package `systemd`: wherever systemd set `NOTIFY_SOCKET`, it is
 * installed). Run as root, systemd-notify sends with its parent's PID as the sender (the agent's
 * main PID); unprivileged, with its own, which is why the unit says `NotifyAccess=all`.
 *
 * - Without `NOTIFY_SOCKET` (not under systemd, or `Type=simple`) every call does nothing.
 * - The variables are taken out of `process.env` at once, as sd_notify's `unset_environment`
 *   does, so health-check commands and update modules the agent runs cannot notify in its name.
 * - Messages go out one at a time, in order; a failed send is logged, never thrown.
 * - The watchdog (sd_watchdog_enabled(3)): with `WATCHDOG_USEC` set, and `WATCHDOG_PID` unset or
 *   ours, WATCHDOG=1 every half period from a timer, so a blocked event loop stops the pings.
 */
import { execFile } from 'node:child_process';

export interface SystemdNotifier {
  /** False when not under systemd's notify protocol: every call is a no-op. */
  readonly enabled: boolean;
  /** How often WATCHDOG=1 goes out; undefined when systemd watches nothing. */
  readonly watchdogIntervalMs: number | undefined;
  /** Sends `KEY=value` assignments as one message, after the ones before it. */
  notify(...assignments: string[]): Promise<void>;
  /** Starts the WATCHDOG=1 pings (if systemd wants them). */
  startWatchdog(): void;
  /** Stops the pings and waits for messages still going out. */
  close(): Promise<void>;
}

export interface SystemdNotifierOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly pid?: number;
  /** @default 'systemd-notify' (looked up on PATH) */
  readonly command?: string;
  readonly log?: { warning(message: string): void; debug(message: string): void };
}

const SEND_TIMEOUT_MS = 5_000;

export function systemdNotifier(options: SystemdNotifierOptions = {}): SystemdNotifier {
  const { env = process.env, pid = process.pid, command = 'systemd-notify', log } = options;
  const socket = env.NOTIFY_SOCKET;
  const watchdogUsec = Number(env.WATCHDOG_USEC);
  const watchdogPid = env.WATCHDOG_PID;
  delete env.NOTIFY_SOCKET;
  delete env.WATCHDOG_USEC;
  delete env.WATCHDOG_PID;

  let enabled = Boolean(socket);
  const watchdogIntervalMs =
    enabled && watchdogUsec > 0 && (!watchdogPid || Number(watchdogPid) === pid)
      ? Math.max(1, Math.floor(watchdogUsec / 2_000))
      : undefined;
  let queue: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;

  const send = (assignments: string[]) =>
    new Promise<void>((resolve) => {
      if (!enabled) return resolve();
      const childEnv = { NOTIFY_SOCKET: socket, PATH: env.PATH ?? '/usr/bin:/bin' };
      execFile(
        command,
        assignments,
        { env: childEnv, timeout: SEND_TIMEOUT_MS },
        (error, _stdout, stderr) => {
          if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT') {
            enabled = false;
            log?.warning(`${command} not found: cannot tell systemd about readiness or the watchdog`);
          } else if (error) {
            log?.warning(`${command} ${assignments.join(' ')} failed: ${stderr.trim() || error.message}`);
          } else {
            log?.debug(`sd_notify ${assignments.join(' ')}`);
          }
          resolve();
        },
      );
    });

  const notifier: SystemdNotifier = {
    get enabled() {
      return enabled;
    },
    watchdogIntervalMs,
    notify(...assignments) {
      // One assignment per line in the protocol: a line break inside a value would forge another.
      const clean = assignments.map((assignment) => assignment.replace(/[\r\n]+/g, ' '));
      queue = queue.then(() => send(clean));
      return queue;
    },
    startWatchdog() {
      if (watchdogIntervalMs === undefined || timer) return;
      let pinging = false;
      timer = setInterval(() => {
        // A ping still queued behind a slow send is enough; do not pile more behind it.
        if (pinging) return;
        pinging = true;
        void notifier.notify('WATCHDOG=1').finally(() => {
          pinging = false;
        });
      }, watchdogIntervalMs);
      timer.unref();
    },
    async close() {
      clearInterval(timer);
      timer = undefined;
      await queue;
    },
  };
  return notifier;
}
