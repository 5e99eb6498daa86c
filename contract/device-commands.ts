/**
 * Remote commands: what an operator can ask one device to do (reboot, upload its logs, run
 * diagnostics, report its inventory), as both sides read it.
 *
 * - The backend sends each command as one AWS IoT job for that one thing, with the job document
 *   `CommandJobDocumentV1` (`edgeopsCommand: 1`, beside the OTA documents `edgeops.ota.v2|v3`:
 *   the agent dispatches on it). The document is ≤ 32 KB (AWS IoT's limit on a job document).
 * - The device reports its result in the job execution's `statusDetails` (string values, keys
 *   `[a-zA-Z0-9:_-]`, each value ≤ 1024 characters: AWS IoT Jobs' limits), which reach the backend
 *   in the job execution event.
 * - Two messages of its own go over MQTT under `edgeops/devices/<id>/commands/`: a request for a
 *   log upload URL (answered on `…/upload-url/accepted|rejected`), and an inventory report.
 *
 * A change that removes or retypes a field is a breaking change: add a version beside this one.
 */
import { VERSION_PATTERN } from './identifiers';
import * as z from './zod-mini';

export const COMMAND_NAMES = ['reboot', 'upload-logs', 'diagnostics', 'inventory'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

/** The most a log upload may be (bytes of the gzip'd object): the upload policy enforces it. */
export const MAX_LOG_UPLOAD_BYTES = 5 * 1024 * 1024;
/** The least a `maxBytes` parameter may be: a few KB of log is the smallest useful tail. */
export const MIN_LOG_UPLOAD_BYTES = 1024;

/** Parameters of each command; strict, so a misspelt parameter is refused, not ignored. */
export const RebootParameters = z.strictObject({
  /** Why, for the device's own log. */
  reason: z.optional(z.string().check(z.minLength(1), z.maxLength(256))),
});
export const UploadLogsParameters = z.strictObject({
  /** Upper bound on the uploaded (gzip'd) object; older lines are cut first. @default MAX_LOG_UPLOAD_BYTES */
  maxBytes: z.optional(z.number().check(z.int(), z.gte(MIN_LOG_UPLOAD_BYTES), z.lte(MAX_LOG_UPLOAD_BYTES))),
});
export const DiagnosticsParameters = z.strictObject({
  /** How long each network probe may take. @default 5 */
  probeTimeoutSeconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(30))),
});
export const InventoryParameters = z.strictObject({});

export const COMMAND_PARAMETERS = {
  reboot: RebootParameters,
  'upload-logs': UploadLogsParameters,
  diagnostics: DiagnosticsParameters,
  inventory: InventoryParameters,
} as const;

export type CommandParameters<C extends CommandName = CommandName> = z.output<(typeof COMMAND_PARAMETERS)[C]>;

/** `cmd-` + 10 base36 characters of time (sortable) + 12 hex: also the command's AWS IoT job id. */
export const COMMAND_ID_PATTERN = /^cmd-[0-9a-z]{10}[0-9a-f]{12}$/;

const isoInstant = z
  .string()
  .check(
    z.refine(
      (value) => !Number.isNaN(Date.parse(value)) && /T.*(Z|[+-]\d\d:\d\d)$/.test(value),
      'an ISO 8601 instant with a zone',
    ),
  );

const documentFields = {
  edgeopsCommand: z.literal(1),
  commandId: z.string().check(z.regex(COMMAND_ID_PATTERN, 'not a command id')),
  /** After this the device refuses the command (REJECTED, `reason: expired`). */
  expiresAt: isoInstant,
};

/** The job document of one command (version 1), a union on `command`. */
export const CommandJobDocumentV1 = z.discriminatedUnion('command', [
  z.strictObject({ ...documentFields, command: z.literal('reboot'), parameters: RebootParameters }),
  z.strictObject({ ...documentFields, command: z.literal('upload-logs'), parameters: UploadLogsParameters }),
  z.strictObject({ ...documentFields, command: z.literal('diagnostics'), parameters: DiagnosticsParameters }),
  z.strictObject({ ...documentFields, command: z.literal('inventory'), parameters: InventoryParameters }),
]);
export type CommandJobDocumentV1 = z.output<typeof CommandJobDocumentV1>;

/** AWS IoT's limit on a job document, in bytes of UTF-8. */
export const MAX_COMMAND_DOCUMENT_BYTES = 32_768;

/**
 * Whether a job document claims to be a command (whatever its version or validity): the agent
 * sends those to its command runner, which refuses one it cannot parse, and everything else to
 * the OTA updater.
 */
export function isCommandDocument(document: unknown): boolean {
  const object = typeof document === 'string' ? safeJson(document) : document;
  return typeof object === 'object' && object !== null && 'edgeopsCommand' in object;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Reasons a device gives in `statusDetails.reason` when it refuses or fails a command. */
export const COMMAND_FAILURE_REASONS = [
  'expired',
  'invalid-document',
  'unsupported-command',
  'reboot-not-observed',
  'upload-url-refused',
  'upload-failed',
  'logs-unavailable',
  'failed',
] as const;

/** Keys and values of `statusDetails` as AWS IoT Jobs accepts them. */
export const STATUS_DETAIL_KEY = /^[a-zA-Z0-9:_-]{1,128}$/;
export const MAX_STATUS_DETAIL_VALUE = 1024;
/** Entries a command result may have: enough for the diagnostics, small for the job event. */
export const MAX_STATUS_DETAILS = 32;

export const CommandStatusDetails = z.record(
  z.string().check(z.regex(STATUS_DETAIL_KEY, 'not a status details key')),
  z.string().check(z.minLength(1), z.maxLength(MAX_STATUS_DETAIL_VALUE)),
);

// Device ↔ backend messages under edgeops/devices/<id>/commands/.

const base = (thingName: string) => `edgeops/devices/${thingName}/commands`;

export const COMMAND_TOPICS = {
  /** Device → backend: give me a URL to upload this command's logs to. */
  uploadUrlRequest: (thingName: string) => `${base(thingName)}/upload-url`,
  uploadUrlAccepted: (thingName: string) => `${base(thingName)}/upload-url/accepted`,
  uploadUrlRejected: (thingName: string) => `${base(thingName)}/upload-url/rejected`,
  /** Both answers (a filter that does not match the request topic itself). */
  uploadUrlResponses: (thingName: string) => `${base(thingName)}/upload-url/+`,
  /** Device → backend: its inventory, for the device item. */
  inventory: (thingName: string) => `${base(thingName)}/inventory`,
} as const;

/** The request for a log upload URL (V1). */
export const UploadUrlRequestV1 = z.strictObject({
  clientToken: z.string().check(z.minLength(1), z.maxLength(64)),
  commandId: z.string().check(z.regex(COMMAND_ID_PATTERN, 'not a command id')),
  /** The gzip'd object's exact size. */
  bytes: z.number().check(z.int(), z.gte(1), z.lte(MAX_LOG_UPLOAD_BYTES)),
});
export type UploadUrlRequestV1 = z.output<typeof UploadUrlRequestV1>;

/** The answer: an S3 presigned POST (URL and form fields) for exactly one object key. */
export const UploadUrlAcceptedV1 = z.looseObject({
  clientToken: z.string(),
  url: z.url(),
  fields: z.record(z.string(), z.string()),
  objectKey: z.string().check(z.minLength(1), z.maxLength(1024)),
  expiresAt: isoInstant,
});
export type UploadUrlAcceptedV1 = z.output<typeof UploadUrlAcceptedV1>;

export const UploadUrlRejectedV1 = z.looseObject({
  clientToken: z.string(),
  code: z.string(),
  message: z.string(),
});
export type UploadUrlRejectedV1 = z.output<typeof UploadUrlRejectedV1>;

const shortText = z.string().check(z.minLength(1), z.maxLength(256));

/** What a device runs and is, as it reports it (V1); stored on the device item as `inventory`. */
export const DeviceInventoryV1 = z.strictObject({
  /** The inventory command this answers, if any. */
  commandId: z.optional(z.string().check(z.regex(COMMAND_ID_PATTERN, 'not a command id'))),
  reportedAt: isoInstant,
  agentVersion: z.string().check(z.regex(VERSION_PATTERN, 'use letters, digits and . + _ -')),
  firmwareVersion: z.string().check(z.regex(VERSION_PATTERN, 'use letters, digits and . + _ -')),
  components: z
    .array(
      z.strictObject({
        name: shortText,
        version: z.string().check(z.regex(VERSION_PATTERN, 'not a version')),
      }),
    )
    .check(z.maxLength(64)),
  hardware: z.strictObject({
    hardwareType: z.optional(shortText),
    arch: shortText,
    cpuModel: z.optional(shortText),
    cpuCount: z.number().check(z.int(), z.gte(0), z.lte(4096)),
    memoryBytes: z.number().check(z.int(), z.gte(0)),
  }),
  os: z.strictObject({
    platform: shortText,
    release: shortText,
    distro: z.optional(shortText),
    hostname: z.optional(shortText),
  }),
  capabilities: z
    .array(z.string().check(z.regex(/^[a-z0-9][a-z0-9.:-]{0,63}$/, 'not a capability name')))
    .check(z.maxLength(32)),
});
export type DeviceInventoryV1 = z.output<typeof DeviceInventoryV1>;
