/**
 * The operator audit trail: one entry per state-changing API request (every method but GET),
 * whatever its outcome. Pure rules: what an entry holds, how a request body is cut down to a
 * bounded, secret-free summary, and which device or rollout the entry is about.
 */

/** The environment variable naming the audit table, in every Lambda that serves a non-GET route (OperatorApi.addRoute sets it). */
export const AUDIT_TABLE_ENV = 'AUDIT_TABLE_NAME';

export interface AuditActor {
  /** The Cognito user name (`cognito:username`), or the email or sub when the token lacks it. */
  readonly username: string;
  /** The Cognito `sub`: stable even when the user name is reused. */
  readonly sub: string | null;
}

export interface AuditEntry {
  /** When the request finished (ISO 8601, UTC, milliseconds). */
  readonly at: string;
  /** API Gateway's request id (`requestContext.requestId`): joins the entry to access logs. */
  readonly requestId: string;
  readonly actor: AuditActor;
  readonly method: string;
  /** The route template, e.g. `/rollouts/{rolloutId}/pause`. */
  readonly route: string;
  readonly pathParameters: Readonly<Record<string, string>>;
  /** A bounded summary of the request body, PEMs and secrets left out; null without a body. */
  readonly body: unknown;
  /** The HTTP status the caller got. */
  readonly status: number;
  /** The device the request was about, when there was one (path, body or answer). */
  readonly deviceId: string | null;
  /** The rollout the request was about, when there was one (path or answer). */
  readonly rolloutId: string | null;
}

/** Most a summary of a body may take as JSON; beyond it only the top-level keys are kept. */
export const MAX_BODY_SUMMARY_BYTES = 4096;
const MAX_STRING = 256;
const MAX_ITEMS = 20;
const MAX_KEYS = 40;
const MAX_DEPTH = 4;
/** Keys whose values are never kept: key material, secrets and tokens, by name. */
const SECRET_KEY = /pem|csr|private|secret|password|token|credential|signature|^sig$|^key$/i;
const PEM = /-----BEGIN [A-Z0-9 ]+-----/;
export const OMITTED = '[omitted]';

/**
 * The body as the trail keeps it: JSON cut to depth 4, 20 items per list, 40 keys per object and
 * 256 characters per string, with any value under a secret-looking key or holding a PEM block
 * replaced by `[omitted]`; then at most MAX_BODY_SUMMARY_BYTES. A body that is not JSON is
 * summarised by its length only: it could hold anything.
 */
export function summarizeBody(body: string | null | undefined, isBase64Encoded = false): unknown {
  if (body === null || body === undefined || body === '') return null;
  const text = isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { notJson: true, bytes: Buffer.byteLength(text) };
  }
  const summary = summarize(parsed, 0);
  if (Buffer.byteLength(JSON.stringify(summary)) <= MAX_BODY_SUMMARY_BYTES) return summary;
  if (isRecord(summary)) {
    return { truncated: true, bytes: Buffer.byteLength(text), keys: Object.keys(summary).slice(0, MAX_KEYS) };
  }
  return { truncated: true, bytes: Buffer.byteLength(text) };
}

function summarize(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    if (PEM.test(value)) return OMITTED;
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value;
  }
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return Array.isArray(value) ? `[${value.length} items]` : '{…}';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item) => summarize(item, depth + 1));
    return value.length > MAX_ITEMS ? [...items, `…${value.length - MAX_ITEMS} more`] : items;
  }
  const entries = Object.entries(value);
  const kept = entries
    .slice(0, MAX_KEYS)
    .map(([key, item]) => [key, SECRET_KEY.test(key) ? OMITTED : summarize(item, depth + 1)] as const);
  return Object.fromEntries(
    entries.length > MAX_KEYS ? [...kept, ['…', `${entries.length - MAX_KEYS} more keys`]] : kept,
  );
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const stringAt = (value: unknown, ...path: string[]): string | undefined => {
  let at = value;
  for (const key of path) at = isRecord(at) ? at[key] : undefined;
  return typeof at === 'string' ? at : undefined;
};

/**
 * The device and rollout an entry is about: from the path (`{deviceId}`, `{rolloutId}`), else the
 * request body (`deviceId`, as in `POST /devices`), else the answer (`rollout.rolloutId` of
 * `POST /rollouts`, `device.deviceId` of `POST /devices`), so `GET /audit?rolloutId=` finds the
 * start of a rollout as well as its controls.
 */
export function auditSubjects(
  pathParameters: Readonly<Record<string, string>>,
  requestBody: unknown,
  responseBody: unknown,
): { deviceId: string | null; rolloutId: string | null } {
  const deviceId =
    pathParameters.deviceId ??
    stringAt(requestBody, 'deviceId') ??
    stringAt(responseBody, 'device', 'deviceId') ??
    null;
  const rolloutId =
    pathParameters.rolloutId ??
    stringAt(responseBody, 'rollout', 'rolloutId') ??
    stringAt(responseBody, 'rolloutId') ??
    null;
  return { deviceId, rolloutId };
}

/** The partition an entry's day lives in: `AUDIT#2026-11-28` (UTC). */
export const auditDay = (at: string): string => at.slice(0, 10);

/**
 * Whether the request changes state, and so is audited: every method but GET, HEAD and OPTIONS,
 * except a preview (`POST …/preview`), which takes its question as a body but writes nothing.
 */
export const isAudited = (method: string, resource = ''): boolean =>
  !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase()) && !resource.endsWith('/preview');

/** Days from `from` to `to` (UTC, both included), newest first: the partitions a query reads. */
export function daysBetween(from: Date, to: Date): string[] {
  const days: string[] = [];
  const first = Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  for (
    let day = Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate());
    day >= first;
    day -= 86_400_000
  ) {
    days.push(new Date(day).toISOString().slice(0, 10));
  }
  return days;
}

/** The longest range one `GET /audit` may name: it reads one partition per day. */
export const MAX_AUDIT_RANGE_DAYS = 92;
