/**
 * Remote commands on one device: their lifecycle and the rules that keep it consistent, whatever
 * order AWS IoT's events, the expiry schedule and the device's requests arrive in.
 *
 * QUEUED → IN_PROGRESS → SUCCEEDED | FAILED | TIMED_OUT | EXPIRED | CANCELED. A terminal status is
 * final: a late or repeated event changes nothing.
 */
import type { CommandJobDocumentV1, CommandName, CommandParameters } from '../../contract/device-commands';
import type { JobExecutionStatus } from '../../contract/iot-jobs';

export const COMMAND_STATUSES = [
  'QUEUED',
  'IN_PROGRESS',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'EXPIRED',
  'CANCELED',
] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export const TERMINAL_COMMAND_STATUSES: readonly CommandStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'EXPIRED',
  'CANCELED',
];

export const isTerminal = (status: CommandStatus) => TERMINAL_COMMAND_STATUSES.includes(status);

/** A command as the fleet table keeps it (`COMMAND#<id>` under the device), with its audit. */
export interface DeviceCommand {
  readonly deviceId: string;
  readonly commandId: string;
  readonly command: CommandName;
  readonly parameters: CommandParameters;
  readonly status: CommandStatus;
  /** Who sent it: the Cognito user name from the caller's token. */
  readonly requestedBy: string;
  readonly requestedAt: string;
  /** The API Gateway request id of the POST, to find it in the access logs. */
  readonly requestId: string;
  readonly expiresAt: string;
  /** The AWS IoT job that carries it (its id is the command id). */
  readonly jobId: string;
  readonly updatedAt: string;
  readonly startedAt?: string;
  readonly completedAt?: string;
  /** Why it ended as it did, when not SUCCEEDED (`expired`, `dispatch-failed: …`, the device's reason). */
  readonly statusReason?: string;
  /** What the device reported (`statusDetails` of the job execution). */
  readonly result?: Readonly<Record<string, string>>;
}

/** Expiry bounds: long enough to reach a device on a flaky link, short enough to mean something. */
export const MIN_EXPIRES_IN_SECONDS = 60;
export const MAX_EXPIRES_IN_SECONDS = 7 * 24 * 3600;
export const DEFAULT_EXPIRES_IN_SECONDS = 3600;

/**
 * How long a started command may run before AWS IoT times it out (the job's in-progress timeout,
 * 1 to 10080 minutes). A reboot has to come back and say so; an upload moves up to 5 MB on a
 * slow link.
 */
export const IN_PROGRESS_TIMEOUT_MINUTES: Record<CommandName, number> = {
  reboot: 15,
  'upload-logs': 15,
  diagnostics: 5,
  inventory: 5,
};

/** A command id that sorts by time (newest last): `cmd-` + 10 base36 of ms + 12 hex of random. */
export function newCommandId(now: Date, randomHex: string): string {
  if (!/^[0-9a-f]{12}$/.test(randomHex)) throw new Error('newCommandId needs 12 hex characters');
  return `cmd-${now.getTime().toString(36).padStart(10, '0')}${randomHex}`;
}

/** Command jobs are named by the command id; wave jobs never start with `cmd-`. */
export const isCommandJobId = (jobId: string) => jobId.startsWith('cmd-');

export function commandDocument(command: DeviceCommand): CommandJobDocumentV1 {
  return {
    edgeopsCommand: 1,
    commandId: command.commandId,
    command: command.command,
    parameters: command.parameters,
    expiresAt: command.expiresAt,
  } as CommandJobDocumentV1;
}

/** A status change for a command, from whichever source saw it. */
export interface CommandTransition {
  readonly status: CommandStatus;
  readonly at: Date;
  readonly statusReason?: string;
  readonly result?: Readonly<Record<string, string>>;
}

/**
 * What a job execution's status means for its command. The device refuses an expired command
 * (REJECTED, `reason: expired`) and the expiry cancels a queued one (CANCELED, `reason: expired`):
 * both are EXPIRED. Any other refusal is a failure; a removed execution is a cancellation.
 */
export function transitionFromExecution(
  status: JobExecutionStatus,
  statusDetails: Readonly<Record<string, string>> | undefined,
  at: Date,
): CommandTransition | undefined {
  const reason = statusDetails?.reason;
  const result = statusDetails && Object.keys(statusDetails).length > 0 ? statusDetails : undefined;
  const withDetails = (s: CommandStatus, statusReason?: string): CommandTransition => ({
    status: s,
    at,
    ...(statusReason ? { statusReason } : {}),
    ...(result ? { result } : {}),
  });
  switch (status) {
    case 'QUEUED':
      return undefined;
    case 'IN_PROGRESS':
      return withDetails('IN_PROGRESS');
    case 'SUCCEEDED':
      return withDetails('SUCCEEDED');
    case 'FAILED':
      return withDetails('FAILED', reason ?? 'failed');
    case 'TIMED_OUT':
      return withDetails('TIMED_OUT', 'the device did not finish within the in-progress timeout');
    case 'REJECTED':
      return reason === 'expired'
        ? withDetails('EXPIRED', 'expired: the device refused it after its expiry')
        : withDetails('FAILED', `rejected: ${reason ?? 'no reason given'}`);
    case 'CANCELED':
      return reason === 'expired'
        ? withDetails('EXPIRED', 'expired before the device took it')
        : withDetails('CANCELED');
    case 'REMOVED':
      return withDetails('CANCELED', 'the job execution was removed');
  }
}

/**
 * Whether `to` may replace `from`: forward only, and nothing replaces a terminal status (the first
 * verdict stands; AWS IoT's own verdicts are final too).
 */
export function mayTransition(from: CommandStatus, to: CommandStatus): boolean {
  if (isTerminal(from)) return false;
  if (from === to) return false;
  if (to === 'QUEUED') return false;
  return true;
}
