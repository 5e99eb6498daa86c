import {
  COMMAND_ID_PATTERN,
  COMMAND_NAMES,
  DiagnosticsParameters,
  InventoryParameters,
  RebootParameters,
  UploadLogsParameters,
} from '../../contract/device-commands';
import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';
import type { DeviceCommand } from '../domain/device-command';
import {
  COMMAND_STATUSES,
  DEFAULT_EXPIRES_IN_SECONDS,
  MAX_EXPIRES_IN_SECONDS,
  MIN_EXPIRES_IN_SECONDS,
} from '../domain/device-command';

const expiresInSeconds = z._default(
  z
    .number({ error: 'expiresInSeconds must be a number of seconds' })
    .check(z.int(), z.gte(MIN_EXPIRES_IN_SECONDS), z.lte(MAX_EXPIRES_IN_SECONDS)),
  DEFAULT_EXPIRES_IN_SECONDS,
);
const body = <C extends string, P extends z.ZodMiniType>(command: C, parameters: P) =>
  z.strictObject({
    command: z.literal(command),
    /** Absent: the command's defaults (`{}`). */
    parameters: z.optional(parameters),
    expiresInSeconds,
  });

/**
 * Body of `POST /devices/{deviceId}/commands`: the command, its parameters (the contract's, so
 * the device and the API agree on them) and how long it stays valid (60 s to 7 days, default 1 h).
 */
export const SendCommandBody = z.discriminatedUnion(
  'command',
  [
    body('reboot', RebootParameters),
    body('upload-logs', UploadLogsParameters),
    body('diagnostics', DiagnosticsParameters),
    body('inventory', InventoryParameters),
  ],
  { error: 'command must be one of reboot, upload-logs, diagnostics, inventory' },
);
export type SendCommandBody = z.output<typeof SendCommandBody>;

const deviceId = z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -'));

export const CommandPath = z.object({
  deviceId,
  commandId: z.string().check(z.regex(COMMAND_ID_PATTERN, 'not a command id')),
});

export const ListCommandsQuery = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 25),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
});

/** The expiry schedule's input (adapters/scheduler-command-expiry.ts). */
export const CommandExpiryEvent = z.object({ deviceId, commandId: CommandPath.shape.commandId });

const nullableString = z.nullable(z.string());

/** The shape `commandView` returns: typed against it, so the view and the OpenAPI document agree. */
export const CommandView = z.object({
  commandId: z.string(),
  deviceId: z.string(),
  command: z.enum(COMMAND_NAMES),
  parameters: z.record(z.string(), z.unknown()),
  status: z.enum(COMMAND_STATUSES),
  /** Why it ended as it did, when not SUCCEEDED. */
  statusReason: nullableString,
  /** What the device reported (statusDetails of its job execution). */
  result: z.nullable(z.record(z.string(), z.string())),
  expiresAt: z.string(),
  jobId: z.string(),
  audit: z.object({
    requestedBy: z.string(),
    requestedAt: z.string(),
    requestId: z.string(),
    startedAt: nullableString,
    completedAt: nullableString,
    updatedAt: z.string(),
  }),
  /** For uploaded logs: a GET of the object, valid for `expiresInSeconds`. */
  logDownload: z.nullable(z.object({ url: z.string(), expiresInSeconds: z.number() })),
});
export type CommandView = z.output<typeof CommandView>;

/** How the API shows a command: its status, result and audit, with `null` for what is not known yet. */
export function commandView(
  command: DeviceCommand,
  logDownload?: { url: string; expiresInSeconds: number },
): CommandView {
  return {
    commandId: command.commandId,
    deviceId: command.deviceId,
    command: command.command,
    parameters: command.parameters,
    status: command.status,
    statusReason: command.statusReason ?? null,
    result: command.result ?? null,
    expiresAt: command.expiresAt,
    jobId: command.jobId,
    audit: {
      requestedBy: command.requestedBy,
      requestedAt: command.requestedAt,
      requestId: command.requestId,
      startedAt: command.startedAt ?? null,
      completedAt: command.completedAt ?? null,
      updatedAt: command.updatedAt,
    },
    logDownload: logDownload ?? null,
  };
}
