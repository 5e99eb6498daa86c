/**
 * The `logLevel` configuration key applied to the agent's own log callback, for hosts that give
 * the agent no `onLogLevel` of their own. The agent's messages carry no level, so, like the
 * daemon's journal (daemon/agent-daemon.ts), a message is "trouble" by its wording: at `warning`
 * and `error` only trouble passes; at `info` and `debug` (and with no level set) everything does.
 */
import type { LogLevel } from '../../contract/device-config';

const TROUBLE = /\b(?:error|failed|fails|refused|rejected|dropped|invalid|cannot|stopped)\b/i;

export interface LevelledLog {
  (message: string): void;
  /** Sets the threshold; undefined goes back to letting everything through. */
  setLevel(level: LogLevel | undefined): void;
  readonly level: LogLevel | undefined;
}

export function logLevelFilter(sink: ((message: string) => void) | undefined): LevelledLog {
  let level: LogLevel | undefined;
  const log = ((message: string) => {
    if (!sink) return;
    if ((level === 'warning' || level === 'error') && !TROUBLE.test(message)) return;
    sink(message);
  }) as LevelledLog;
  log.setLevel = (next) => {
    level = next;
  };
  Object.defineProperty(log, 'level', { get: () => level });
  return log;
}
