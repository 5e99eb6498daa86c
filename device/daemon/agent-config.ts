/**
 * The agent's config file (JSON, `/etc/edgeops/agent.json` by default), parsed at the edge: a
 * config that does not parse, names a file that is missing or unreadable, or leaves the private
 * key readable by others is refused with one line naming the file and the field, before anything
 * starts (`ConfigError`, exit 78 = EX_CONFIG).
 *
 * 1. Parse the JSON and check it against `AgentConfigFile` (unknown fields are refused: a typo in
 *    a field name must not silently fall back to a default).
 * 2. Read what it names: certificate, private key (mode 0600 or stricter), CA, TUF root; check the
 *    key belongs to the certificate; check the update-modules directory and health-check commands
 *    (the trial boot's and telemetry's) exist.
 * 3. Make sure the state dir exists and is writable (`StateDirError`, exit 73 = EX_CANTCREAT).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { DEVICE_ID_PATTERN, LABEL_PATTERN, VERSION_PATTERN } from '../../contract/identifiers';
import { AlertRule } from '../../contract/telemetry';
import { TRIAL_BOOTS_RANGE } from '../ota/boot-slots';
import { HANDLER_STATES, type HandlerState } from '../update-modules/handler-contract';

/** sysexits(3) codes systemd also knows (`systemd.exec(5)`, "Process Exit Codes"). */
export const EX_USAGE = 64;
export const EX_SOFTWARE = 70;
export const EX_CANTCREAT = 73;
export const EX_CONFIG = 78;

export const DEFAULT_CONFIG_PATH = '/etc/edgeops/agent.json';

/** A config the agent refuses; `message` is one line naming the file and the field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** The state dir cannot be created or written. */
export class StateDirError extends Error {
  override readonly name = 'StateDirError';
}

const absolutePath = z
  .string()
  .min(1)
  .refine((path) => isAbsolute(path), 'must be an absolute path');
const seconds = (max: number) =>
  z.number().positive('must be more than 0').max(max, `must be at most ${max} seconds`);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/** A day at most: `ArtifactInstall` of a root file system over a slow disk still fits. */
const STATE_TIMEOUTS = Object.fromEntries(
  HANDLER_STATES.map((state) => [state, seconds(24 * 3600).optional()]),
) as Record<HandlerState, z.ZodOptional<ReturnType<typeof seconds>>>;

const HttpProbe = z.strictObject({
  url: z
    .string()
    .refine((url) => URL.canParse(url) && /^https?:$/.test(new URL(url).protocol), 'must be an http(s) URL'),
  /** Any 2xx passes unless one status is expected. */
  expectStatus: z.number().int().min(100).max(599).optional(),
  timeoutSeconds: seconds(300).default(5),
});

const CommandProbe = z.strictObject({
  /** Run without a shell; exit code 0 passes. */
  argv: z
    .array(z.string())
    .min(1, 'must name the command')
    .refine(([command]) => command && isAbsolute(command), {
      message: 'must start with an absolute path',
      path: [0],
    }),
  timeoutSeconds: seconds(3600).default(30),
});

/**
 * Telemetry (device/telemetry/): on unless `enabled: false`. The application check is one HTTP or
 * one command probe with three verdicts (device/README.md, "Telemetry"); its timeout is cut to
 * the sampling interval.
 */
const Telemetry = z
  .strictObject({
    enabled: z.boolean().default(true),
    windowSeconds: z.number().int().min(1).max(3600).default(300),
    sampleEverySeconds: z.number().positive('must be more than 0').max(3600).default(5),
    sendEverySeconds: z.number().int().min(1).max(86_400).default(300),
    maxBatchesPerSecond: z.number().positive('must be more than 0').max(100).default(1),
    /** The on-disk buffer's cap: 16 KiB to 1 GiB. */
    bufferBytes: z
      .number()
      .int()
      .min(16 * 1024)
      .max(1024 ** 3)
      .default(8 * 1024 * 1024),
    healthCheck: z
      .strictObject({
        http: z.strictObject({ url: HttpProbe.shape.url, timeoutSeconds: seconds(60).default(5) }).optional(),
        command: z
          .strictObject({ argv: CommandProbe.shape.argv, timeoutSeconds: seconds(60).default(5) })
          .optional(),
      })
      .refine(
        (check) => (check.http ? 1 : 0) + (check.command ? 1 : 0) === 1,
        'must have either http or command',
      )
      .optional(),
    /** Threshold alerts (contract/telemetry.ts `AlertRule`), checked on every sample. */
    alertRules: z
      .array(AlertRule)
      .max(32)
      .default([])
      .refine((rules) => new Set(rules.map((rule) => rule.id)).size === rules.length, 'rule ids must differ'),
  })
  .refine((telemetry) => telemetry.sampleEverySeconds <= telemetry.windowSeconds, {
    message: 'must be at most windowSeconds',
    path: ['sampleEverySeconds'],
  });

export const LOG_LEVELS = ['error', 'warning', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export const AgentConfigFile = z.strictObject({
  /** The AWS IoT thing name, also the MQTT client id. */
  deviceId: z.string().regex(DEVICE_ID_PATTERN, 'must be 1-128 of letters, digits, _ and -'),
  /** Jobs whose artifact is for other hardware are rejected. */
  hardwareType: z.string().regex(LABEL_PATTERN, 'must be 1-64 of letters, digits and _ . @ / : # = -'),
  /** What the device runs before its first update; read on the first start of the state dir only. */
  factoryVersion: z.string().regex(VERSION_PATTERN, 'must be 1-64 of letters, digits and . + _ -'),
  identity: z.strictObject({
    certificate: absolutePath,
    privateKey: absolutePath,
    /** The CA that signed the broker's certificate (Amazon Root CA 1 on AWS). */
    ca: absolutePath,
    /** The TUF root from registration (`trustRoot` of POST /devices), installed on first use. */
    trustRoot: absolutePath.optional(),
  }),
  mqtt: z.strictObject({
    /** Your account's `iot:Data-ATS` endpoint. */
    host: z.string().regex(/^[a-zA-Z0-9.-]{1,253}$/, 'must be a host name or IPv4 address'),
    port: z.number().int().min(1).max(65535).default(8883),
  }),
  stateDir: absolutePath.default('/var/lib/edgeops'),
  /** Update modules (docs/update-modules.md): the handlers of release components other than the A/B slots. */
  updateModules: z
    .strictObject({
      /** An executable per handler name (the package installs them in /usr/lib/edgeops/update-modules). */
      dir: absolutePath,
      /** Seconds a handler state may run, over the defaults (`DEFAULT_STATE_TIMEOUTS`). */
      timeouts: z.strictObject(STATE_TIMEOUTS).optional(),
      /** Added to every handler's environment: device settings such as `EDGEOPS_RESTART_COMMAND`. */
      env: z
        .record(
          z
            .string()
            .regex(ENV_NAME, 'must be an environment variable name (letters, digits and _)')
            .refine((name) => !name.startsWith('EDGEOPS_CONFIG_'), 'is set from the release, not here'),
          z
            .string()
            .max(4096)
            .refine((value) => !value.includes('\0'), 'must not hold a NUL character'),
        )
        .refine((env) => Object.keys(env).length <= 64, 'must have at most 64 entries')
        .optional(),
    })
    .optional(),
  /**
   * How a release component on the `rootfs` handler is installed: `slots`, the agent's A/B slot
   * files in the state dir; `update-module`, the `rootfs` handler (RAUC) in `updateModules.dir`.
   */
  rootfs: z.enum(['slots', 'update-module']).default('slots'),
  /** All must pass before a trial boot is confirmed, after the check that the image is the one installed. */
  healthChecks: z
    .strictObject({
      http: z.array(HttpProbe).max(16).default([]),
      commands: z.array(CommandProbe).max(16).default([]),
    })
    .default({ http: [], commands: [] }),
  /** Boots a new version gets to confirm itself before the device reverts; the agent's default when unset. */
  trialBoots: z.number().int().min(TRIAL_BOOTS_RANGE.min).max(TRIAL_BOOTS_RANGE.max).optional(),
  /** The download budget (device/ota/download-budget.ts); the agent's defaults where unset. */
  downloads: z
    .strictObject({
      /** The slowest average rate a transfer may have before it is abandoned. */
      minBytesPerSecond: z.number().int().min(1).max(1_000_000_000).optional(),
      /** A ceiling on the time one transfer may take. */
      maxSeconds: z
        .number()
        .int()
        .min(1)
        .max(30 * 24 * 3600)
        .optional(),
      /** The fixed part of a transfer's time budget (connection set-up, retries). */
      allowanceSeconds: z
        .number()
        .int()
        .min(0)
        .max(24 * 3600)
        .optional(),
      /** Accept `http:` artifact URLs: local AWS only, never in the field. */
      allowPlainHttp: z.boolean().default(false),
    })
    .default({ allowPlainHttp: false }),
  log: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
      /** `<N>` syslog priority before each line; `auto`: when stdout is the journal. */
      priorityPrefix: z
        .union([z.literal('auto'), z.boolean()], { error: 'must be "auto", true or false' })
        .default('auto'),
    })
    .default({ level: 'info', priorityPrefix: 'auto' }),
  telemetry: Telemetry.prefault({}),
});
export type AgentConfigFile = z.infer<typeof AgentConfigFile>;

/** The config with the files it names read and checked. */
export interface AgentConfig extends AgentConfigFile {
  readonly path: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  readonly caPem: string;
  readonly trustRootJson: unknown;
  /** Worth a warning, not a refusal (an expired certificate, a certificate not valid yet). */
  readonly warnings: readonly string[];
}

/** Where the config is: `--config <path>`, else `$EDGEOPS_AGENT_CONFIG`, else the default. */
export function configPath(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  return explicit ?? (env.EDGEOPS_AGENT_CONFIG || DEFAULT_CONFIG_PATH);
}

/** Reads, checks and completes the config at `path`; throws `ConfigError` or `StateDirError`. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  const file = parseAgentConfig(await readConfigText(path), path);
  return { ...file, ...(await readNamedFiles(file, path)), path };
}

async function readConfigText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot read the config: ${reason(error)}`);
  }
}

/** Steps 1: JSON and schema. */
export function parseAgentConfig(text: string, path: string): AgentConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid JSON: ${(error as Error).message}`);
  }
  const parsed = AgentConfigFile.safeParse(json, {
    // Messages that read as `<field>: must be …`; the schema's own messages come first.
    error: (issue) => {
      switch (issue.code) {
        case 'invalid_type':
          if (issue.input === undefined) return 'is required';
          return `must be ${article(issue.expected === 'int' ? 'integer' : issue.expected)}`;
        case 'too_small':
          if (issue.origin === 'string') return 'must not be empty';
          if (issue.origin === 'array') return `must have at least ${issue.minimum} entries`;
          return `must be ${issue.inclusive ? 'at least' : 'more than'} ${issue.minimum}`;
        case 'too_big':
          if (issue.origin === 'array') return `must have at most ${issue.maximum} entries`;
          return `must be ${issue.inclusive ? 'at most' : 'less than'} ${issue.maximum}`;
        case 'invalid_value':
          return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
        case 'invalid_key':
          // A record's key (updateModules.env): the key's own message, under the key's name.
          return issue.issues[0]?.message;
        default:
          return undefined;
      }
    },
  });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (!issue) throw new ConfigError(`${path}: invalid config`);
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    throw new ConfigError(`${path}: ${fieldName([...issue.path, key])}: unknown field`);
  }
  if (issue.path.length === 0) throw new ConfigError(`${path}: ${oneLine(issue.message)}`);
  throw new ConfigError(`${path}: ${fieldName(issue.path)}: ${oneLine(issue.message)}`);
}

/** Step 2 and 3: the files the config names, and the state dir. */
async function readNamedFiles(config: AgentConfigFile, path: string) {
  const fail = (field: string, file: string, problem: string): never => {
    throw new ConfigError(`${path}: ${field}: ${file}: ${problem}`);
  };
  const readPem = async (field: string, file: string, kind: RegExp, what: string) => {
    const text = await readNamed(file).catch((error) => fail(field, file, reason(error)));
    if (!kind.test(text)) fail(field, file, `does not hold ${what}`);
    return text;
  };
  const { identity } = config;
  const warnings: string[] = [];

  const certificatePem = await readPem(
    'identity.certificate',
    identity.certificate,
    /-----BEGIN CERTIFICATE-----/,
    'a PEM certificate',
  );
  const certificate =
    parseCertificate(certificatePem) ??
    fail('identity.certificate', identity.certificate, 'not a valid certificate');
  const keyMode = (
    await stat(identity.privateKey).catch((error) =>
      fail('identity.privateKey', identity.privateKey, reason(error)),
    )
  ).mode;
  // As ssh does with its keys: the key is the device's identity; nobody but its owner reads it.
  if ((keyMode & 0o077) !== 0)
    fail(
      'identity.privateKey',
      identity.privateKey,
      `group or others may access it (mode ${(keyMode & 0o777).toString(8).padStart(4, '0')}); chmod 600 it`,
    );
  const privateKeyPem = await readPem(
    'identity.privateKey',
    identity.privateKey,
    /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/,
    'a PEM private key',
  );
  let keyMatches = false;
  try {
    keyMatches = certificate.checkPrivateKey(createPrivateKey(privateKeyPem));
  } catch {
    // Never echo the key or the parser's view of it.
    fail('identity.privateKey', identity.privateKey, 'not a valid private key');
  }
  if (!keyMatches)
    fail('identity.privateKey', identity.privateKey, 'does not belong to identity.certificate');
  // Warnings, not refusals: a gateway without a real-time clock boots with a wrong time until NTP.
  if (certificate.validToDate.getTime() < Date.now())
    warnings.push(`identity.certificate: ${identity.certificate}: expired on ${certificate.validTo}`);
  if (certificate.validFromDate.getTime() > Date.now())
    warnings.push(
      `identity.certificate: ${identity.certificate}: not valid before ${certificate.validFrom} (is the clock set?)`,
    );

  const caPem = await readPem('identity.ca', identity.ca, /-----BEGIN CERTIFICATE-----/, 'a PEM certificate');
  if (!parseCertificate(caPem)) fail('identity.ca', identity.ca, 'not a valid certificate');

  let trustRootJson: unknown;
  if (identity.trustRoot) {
    const file = identity.trustRoot;
    const text = await readNamed(file).catch((error) => fail('identity.trustRoot', file, reason(error)));
    try {
      trustRootJson = JSON.parse(text);
    } catch {
      fail('identity.trustRoot', file, 'not valid JSON');
    }
  }

  if (config.updateModules) {
    const dir = config.updateModules.dir;
    const info = await stat(dir).catch((error) => fail('updateModules.dir', dir, reason(error)));
    if (!info.isDirectory()) fail('updateModules.dir', dir, 'not a directory');
  }
  for (const [index, probe] of config.healthChecks.commands.entries()) {
    const command = probe.argv[0] ?? '';
    await access(command, constants.X_OK).catch((error) =>
      fail(`healthChecks.commands[${index}].argv[0]`, command, reason(error, 'not executable')),
    );
  }

  const telemetryCommand = config.telemetry.healthCheck?.command?.argv[0];
  if (telemetryCommand)
    await access(telemetryCommand, constants.X_OK).catch((error) =>
      fail('telemetry.healthCheck.command.argv[0]', telemetryCommand, reason(error, 'not executable')),
    );

  await ensureStateDir(config.stateDir);
  return { certificatePem, privateKeyPem, caPem, trustRootJson, warnings };
}

async function ensureStateDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw new StateDirError(`stateDir: ${dir}: cannot create or write it: ${reason(error)}`);
  }
}

async function readNamed(file: string): Promise<string> {
  const info = await stat(file);
  if (!info.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'ENOTFILE' });
  return readFile(file, 'utf8');
}

function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

const fieldName = (path: readonly PropertyKey[]) =>
  path.reduce<string>(
    (name, key) =>
      typeof key === 'number' ? `${name}[${key}]` : name ? `${name}.${String(key)}` : String(key),
    '',
  );

const article = (type: string) => (/^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`);

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ');

/** What went wrong with a file, without the stack or the file's contents. */
function reason(error: unknown, fallback = 'unreadable'): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file or directory';
    case 'EACCES':
    case 'EPERM':
      return `permission denied${fallback === 'not executable' ? ' (not executable)' : ''}`;
    case 'ENOTDIR':
      return 'a path component is not a directory';
    case 'EISDIR':
    case 'ENOTFILE':
      return 'not a regular file';
    case 'EROFS':
      return 'read-only file system';
    default:
      return code ? `${fallback} (${code})` : fallback;
  }
}
