/**
 * Logs as journald wants them from a service's stdout: one line per message, no timestamps or
 * colours (the journal stamps each line), and optionally the sd-daemon(3) `<N>` priority prefix so
 * `journalctl -p warning` finds warnings. Every message is redacted first: no private key, no
 * presigned URL's signature or credentials ever reach the log.
 */
import { fstatSync } from 'node:fs';
import type { LogLevel } from './agent-config';

export interface JournalLog {
  error(message: string): void;
  warning(message: string): void;
  info(message: string): void;
  debug(message: string): void;
}

/** sd-daemon(3): `SD_ERR`, `SD_WARNING`, `SD_INFO`, `SD_DEBUG`. */
const PRIORITY: Record<LogLevel, number> = { error: 3, warning: 4, info: 6, debug: 7 };

export interface JournalLogOptions {
  readonly level: LogLevel;
  readonly priorityPrefix: boolean;
  /** Writes one line, newline included. @default process.stdout (synchronous for pipes and files on Linux) */
  readonly write?: (line: string) => void;
}

export function journalLog({ level, priorityPrefix, write = defaultWrite }: JournalLogOptions): JournalLog {
  const threshold = PRIORITY[level];
  const emit = (messageLevel: LogLevel) => (message: string) => {
    const priority = PRIORITY[messageLevel];
    if (priority > threshold) return;
    write(`${priorityPrefix ? `<${priority}>` : ''}${oneLine(redact(message))}\n`);
  };
  return { error: emit('error'), warning: emit('warning'), info: emit('info'), debug: emit('debug') };
}

const defaultWrite = (line: string) => {
  process.stdout.write(line);
};

/**
 * True when stdout is connected to the journal: systemd sets `JOURNAL_STREAM` to the stream's
 * `<device>:<inode>`, and compares it to stdout's own, as sd_journal_stream_fd(3) advises (a
 * child of a service inherits the variable with another stdout).
 */
export function stdoutIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const stream = env.JOURNAL_STREAM?.match(/^(\d+):(\d+)$/);
  if (!stream) return false;
  try {
    const { dev, ino } = fstatSync(fd, { bigint: true });
    return dev === BigInt(stream[1] ?? '') && ino === BigInt(stream[2] ?? '');
  } catch {
    return false;
  }
}

const PRIVATE_KEY = /-----BEGIN ((?:[A-Z0-9]+ )*PRIVATE KEY)-----[\s\S]*?(?:-----END \1-----|$)/g;
const URL_QUERY = /\b(https?:\/\/[^\s?#"'<>]+)\?[^\s#"'<>]*/gi;
/** Signing and credential parameters of S3 (SigV4, SigV2) and CloudFront presigned URLs. */
const SIGNED_PARAM =
  /\b(X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId|Key-Pair-Id|Policy)=[^&\s"'<>]+/gi;

/**
 * Removes secrets: private key blocks, the query string of every URL (a presigned URL's query is
 * its credential; a path says enough), and signing parameters found anywhere else.
 */
export function redact(message: string): string {
  return message
    .replace(PRIVATE_KEY, '[private key redacted]')
    .replace(URL_QUERY, '$1?[query redacted]')
    .replace(SIGNED_PARAM, '$1=[redacted]');
}

/** One journal entry per message: line breaks (a stack, a multi-line error) become ` | `. */
export function oneLine(message: string): string {
  return message.trimEnd().replace(/\s*[\r\n]+\s*/g, ' | ');
}
