/**
 * Device configuration: named keys whose desired values operators set in three layers (fleet,
 * site, device; for each key the most specific layer that sets it wins), delivered to the device
 * through a named shadow it may only read, and reported back on a topic of its own.
 *
 * - The key registry (`CONFIG_KEYS`) is the single definition of what a key may hold: the
 *   backend validates operators' layers with it, the device validates what it receives with it,
 *   and `GET /config/keys` publishes each key's JSON Schema (generated from the same zod schema).
 *   Operators cannot declare keys of their own: a new key is a new entry here, shipped with the
 *   agent that knows how to apply it (an unknown key would only ever be rejected by devices).
 * - The desired state in the `config` shadow is `{ revision, <key>: <value>, ... }`, where
 *   `revision` is a hash of the values (`configRevision`), so the device can tell a whole,
 *   consistent document from a stale or half-merged one, and the backend can tell which
 *   revision a device applied.
 * - The device reports what it applied (and what it rejected, with reasons) as a whole
 *   `ConfigReportV1` on `edgeops/devices/<id>/config/reported`: a whole message, not a shadow
 *   update, so there is no merge on the way and the device never writes its desired state.
 * - AWS IoT refuses a shadow whose desired and reported state exceed 8 KB (8192 bytes of JSON)
 *   or nest deeper than 6 levels; local AWS enforces neither, so `shadowLimitIssues` checks both
 *   before the backend writes a layer or a shadow.
 */
import { createHash } from 'node:crypto';
import { BandwidthPolicy } from './bandwidth-policy';
import * as z from './zod-mini';

/** The named shadow that carries a device's desired configuration; the device may only read it. */
export const CONFIG_SHADOW_NAME = 'config';
/** Where a device reports the configuration it applied (its own topic: no one else publishes there). */
export const CONFIG_REPORT_TOPIC = (thingName: string) => `edgeops/devices/${thingName}/config/reported`;

/** AWS IoT: desired plus reported state of one shadow document, as JSON, at most this many bytes. */
export const MAX_SHADOW_STATE_BYTES = 8192;
/** AWS IoT: "JSON contains too many levels of nesting; maximum is 6". */
export const MAX_SHADOW_DEPTH = 6;

/** The agent's log verbosity (the daemon's levels, as in its config file). */
export const LogLevel = z.enum(['error', 'warning', 'info', 'debug']);
export type LogLevel = z.infer<typeof LogLevel>;

/** Telemetry cadence the reference agent can change while it runs (device/telemetry). */
export const TelemetrySettings = z.strictObject({
  /** Seconds between samples. */
  sampleEverySeconds: z.optional(z.number().check(z.int(), z.gte(1), z.lte(3600))),
  /** Seconds between sends of the buffered windows while online. */
  sendEverySeconds: z.optional(z.number().check(z.int(), z.gte(10), z.lte(86_400))),
});
export type TelemetrySettings = z.infer<typeof TelemetrySettings>;

/** Every configuration key and the schema of its value. */
export const CONFIG_KEYS = {
  bandwidthPolicy: BandwidthPolicy,
  telemetry: TelemetrySettings,
  logLevel: LogLevel,
} as const;
export type ConfigKey = keyof typeof CONFIG_KEYS;
export const CONFIG_KEY_NAMES = Object.keys(CONFIG_KEYS) as ConfigKey[];
export type ConfigValues = { -readonly [K in ConfigKey]?: z.infer<(typeof CONFIG_KEYS)[K]> };

/** The desired state's own field; no key may be called so. */
export const REVISION_FIELD = 'revision';

export const isConfigKey = (key: string): key is ConfigKey => Object.hasOwn(CONFIG_KEYS, key);

export interface ConfigIssue {
  /** `bandwidthPolicy.timeZone`, or the unknown key itself. */
  readonly field: string;
  readonly message: string;
}

/**
 * Validates a layer (or a desired state without its revision) key by key: an unknown key, or a
 * value its key's schema refuses, is an issue naming the key (and the field inside it). Returns
 * the parsed values, or the issues: all of them, so one answer lists every mistake.
 */
export function parseConfigValues(
  input: unknown,
):
  | { readonly ok: true; readonly values: ConfigValues }
  | { readonly ok: false; readonly issues: ConfigIssue[] } {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return { ok: false, issues: [{ field: '(root)', message: 'an object of configuration keys' }] };
  const issues: ConfigIssue[] = [];
  const values: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(input)) {
    if (!isConfigKey(key)) {
      issues.push({
        field: key,
        message: `unknown configuration key (known: ${CONFIG_KEY_NAMES.join(', ')})`,
      });
      continue;
    }
    const parsed = z.safeParse(CONFIG_KEYS[key], value);
    if (parsed.success) values[key] = parsed.data;
    else
      for (const issue of parsed.error.issues)
        issues.push({ field: [key, ...issue.path.map(String)].join('.'), message: issue.message });
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, values: values as ConfigValues };
}

/** One key's value checked on its own (the device applies key by key). */
export function parseConfigValue(
  key: ConfigKey,
  value: unknown,
): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string } {
  const parsed = z.safeParse(CONFIG_KEYS[key], value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    reason: parsed.error.issues
      .map((i) => `${[key, ...i.path.map(String)].join('.')}: ${i.message}`)
      .join('; '),
  };
}

/** JSON with object keys sorted at every level: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The revision of a set of values: 16 hex digits of the SHA-256 of their canonical JSON. */
export function configRevision(values: Readonly<Record<string, unknown>>): string {
  return createHash('sha256').update(canonicalJson(values)).digest('hex').slice(0, 16);
}

/** The revision of no configuration at all (a device without a `config` shadow). */
export const EMPTY_CONFIG_REVISION = configRevision({});

/** The desired state written into the `config` shadow. */
export function desiredConfigState(values: ConfigValues): Record<string, unknown> {
  return { [REVISION_FIELD]: configRevision(values), ...values };
}

/** Levels of nesting: 0 for a scalar, 1 + the deepest child for an object or array. */
export function jsonDepth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  const children = Array.isArray(value) ? value : Object.values(value);
  return 1 + children.reduce<number>((deepest, child) => Math.max(deepest, jsonDepth(child)), 0);
}

/**
 * What AWS IoT would refuse in a shadow whose desired state is `desired` (and which has no
 * reported state, as the `config` shadow has none): more than 8192 bytes for
 * `{"desired":…}`, or more than 6 levels counted from `state` itself (so `state` → `desired` →
 * key → … is 6 at most). Both counts are at least what AWS counts, so a document that passes
 * here passes there.
 */
export function shadowLimitIssues(desired: Readonly<Record<string, unknown>>): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bytes = Buffer.byteLength(JSON.stringify({ desired }), 'utf8');
  if (bytes > MAX_SHADOW_STATE_BYTES)
    issues.push({
      field: '(root)',
      message: `the device's desired configuration would take ${bytes} bytes; AWS IoT keeps at most ${MAX_SHADOW_STATE_BYTES} per shadow`,
    });
  // `{ desired }` stands for the `state` object: state is level 1, desired level 2.
  const depth = jsonDepth({ desired });
  if (depth > MAX_SHADOW_DEPTH)
    issues.push({
      field: '(root)',
      message: `the device's desired configuration nests ${depth} levels deep; AWS IoT allows at most ${MAX_SHADOW_DEPTH}`,
    });
  return issues;
}

/** What a device reports after it handled a desired configuration (or found none). */
export const ConfigReportV1 = z.strictObject({
  schema: z.literal('edgeops.config-report.v1'),
  /** Increases with every report of this device (kept on its disk): older ones are ignored. */
  seq: z.number().check(z.int(), z.nonnegative(), z.lte(Number.MAX_SAFE_INTEGER)),
  /** The revision of the desired state handled. */
  revision: z.string().check(z.regex(/^[0-9a-f]{16}$/, '16 hex digits')),
  /** Keys applied, with the values now in force. */
  applied: z.record(z.string().check(z.maxLength(64)), z.unknown()),
  /** Keys not applied, with why (unknown key, invalid value, the applier failed). */
  rejected: z.record(z.string().check(z.maxLength(64)), z.string().check(z.maxLength(512))),
  reportedAt: z.number().check(z.int(), z.positive()),
});
export type ConfigReportV1 = z.infer<typeof ConfigReportV1>;

/** Drops `null` fields at every level: AWS IoT deletes them from a shadow, local AWS keeps them. */
export function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k, withoutNulls(v)]),
  );
}

/**
 * The shadow update that turns desired state `current` into `next`: every field of `current`
 * that `next` lacks becomes null (AWS IoT merges updates into the document field by field, so a
 * field left out would stay); objects recurse, everything else (arrays too) is replaced whole.
 */
export function shadowPatch(
  current: unknown,
  next: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const before = isPlainObject(current) ? current : {};
  for (const key of Object.keys(before)) if (!(key in next)) patch[key] = null;
  for (const [key, value] of Object.entries(next)) {
    const old = before[key];
    patch[key] = isPlainObject(value) && isPlainObject(old) ? shadowPatch(old, value) : value;
  }
  return patch;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
