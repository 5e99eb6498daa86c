import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';

const instant = (field: string) =>
  z.pipe(
    z
      .string()
      .check(
        z.iso.datetime({ offset: true, error: `${field}: an ISO 8601 date-time, e.g. 2026-05-01T12:00:00Z` }),
      ),
    z.transform((text) => new Date(text)),
  );

/**
 * Query of `GET /audit`: a time range (default: the last 7 days; at most 92) and filters, each
 * optional. Strict, so a misspelt filter is a 400 rather than a listing of everything.
 */
export const ListAuditQuery = z.strictObject({
  from: z.optional(instant('from')),
  to: z.optional(instant('to')),
  /** A Cognito user name or sub. */
  actor: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  deviceId: z.optional(
    z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
  ),
  rolloutId: z.optional(z.string().check(z.regex(/^ro-[0-9a-f]{12}$/, 'rolloutId: not a rollout id'))),
  limit: z._default(z.coerce.number().check(z.int(), z.gte(1), z.lte(100)), 50),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
});

/** One entry as `GET /audit` shows it (functions/domain/audit.ts AuditEntry). */
export const AuditEntryView = z.object({
  at: z.string(),
  requestId: z.string(),
  actor: z.object({ username: z.string(), sub: z.nullable(z.string()) }),
  method: z.string(),
  route: z.string(),
  pathParameters: z.record(z.string(), z.string()),
  /** A bounded summary of the request body: PEMs and secret-looking fields are `[omitted]`. */
  body: z.unknown(),
  status: z.number(),
  deviceId: z.nullable(z.string()),
  rolloutId: z.nullable(z.string()),
});

/** Answer of `GET /audit`. */
export const AuditPageView = z.object({
  items: z.array(AuditEntryView),
  from: z.string(),
  to: z.string(),
  nextCursor: z.nullable(z.string()),
});
