import { type AuditEntry, daysBetween, MAX_AUDIT_RANGE_DAYS } from '../domain/audit';
import { ValidationError } from '../domain/errors';
import type { AuditFilter, AuditTrail } from '../ports/audit-trail';
import type { Clock } from '../ports/clock';

/** Entries one request may read from the table, matching or not: what bounds its cost. */
export const MAX_AUDIT_READS_PER_REQUEST = 300;
/** Queries one request may send (one or more per day partition). */
export const MAX_AUDIT_QUERIES_PER_REQUEST = 16;
/** The range when the caller names none. */
export const DEFAULT_AUDIT_RANGE_DAYS = 7;

export interface ListAuditEntriesQuery extends AuditFilter {
  readonly from?: Date;
  readonly to?: Date;
  readonly limit: number;
  readonly cursor?: string;
}

export interface AuditEntriesPage {
  readonly items: AuditEntry[];
  readonly from: string;
  readonly to: string;
  /** Send the same query with this to go on; null when the range is read to its start. */
  readonly nextCursor: string | null;
}

interface Position {
  readonly day: string;
  readonly after?: string;
}

/**
 * One page of the audit trail, newest first.
 * 1. Resolve the range (default: the last 7 days up to now; at most 92 days; from ≤ to).
 * 2. Start at the cursor's day and position, or at the range's newest day.
 * 3. Read day partitions newest first, each from its newest entry down, until the page is full or
 *    the request has read MAX_AUDIT_READS_PER_REQUEST entries or sent
 *    MAX_AUDIT_QUERIES_PER_REQUEST queries. A filtered page may so be short, even empty, and still
 *    carry a cursor: follow it until it is null.
 */
export const makeListAuditEntries =
  (ports: { readonly trail: AuditTrail; readonly clock: Clock }) =>
  async (query: ListAuditEntriesQuery): Promise<AuditEntriesPage> => {
    const to = query.to ?? ports.clock.now();
    const from = query.from ?? new Date(to.getTime() - DEFAULT_AUDIT_RANGE_DAYS * 86_400_000);
    if (from.getTime() > to.getTime())
      throw new ValidationError('Invalid query: from is after to', [
        { field: 'from', message: 'must not be after to' },
      ]);
    const days = daysBetween(from, to);
    if (days.length > MAX_AUDIT_RANGE_DAYS)
      throw new ValidationError(`Invalid query: the range spans more than ${MAX_AUDIT_RANGE_DAYS} days`, [
        { field: 'from', message: `at most ${MAX_AUDIT_RANGE_DAYS} days before to` },
      ]);
    const start =
      query.cursor === undefined ? { day: days[0] as string } : decodePosition(query.cursor, days);
    let dayIndex = days.indexOf(start.day);
    let after = start.after;
    const filter: AuditFilter = {
      ...(query.actor === undefined ? {} : { actor: query.actor }),
      ...(query.deviceId === undefined ? {} : { deviceId: query.deviceId }),
      ...(query.rolloutId === undefined ? {} : { rolloutId: query.rolloutId }),
    };
    const items: AuditEntry[] = [];
    let reads = 0;
    let queries = 0;
    while (
      dayIndex < days.length &&
      items.length < query.limit &&
      reads < MAX_AUDIT_READS_PER_REQUEST &&
      queries < MAX_AUDIT_QUERIES_PER_REQUEST
    ) {
      const page = await ports.trail.readDay({
        day: days[dayIndex] as string,
        from,
        to,
        filter,
        limit: Math.min(query.limit - items.length, MAX_AUDIT_READS_PER_REQUEST - reads),
        ...(after === undefined ? {} : { after }),
      });
      queries += 1;
      reads += page.read;
      items.push(...page.items);
      if (page.next !== undefined) after = page.next;
      else {
        dayIndex += 1;
        after = undefined;
      }
    }
    const next =
      dayIndex < days.length ? { day: days[dayIndex] as string, ...(after ? { after } : {}) } : undefined;
    return {
      items,
      from: from.toISOString(),
      to: to.toISOString(),
      nextCursor: next ? Buffer.from(JSON.stringify(next)).toString('base64url') : null,
    };
  };

/** A cursor this listing issued, for a day inside the query's range; anything else is a 400. */
function decodePosition(cursor: string, days: readonly string[]): Position {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null) {
      const { day, after } = value as Record<string, unknown>;
      if (
        typeof day === 'string' &&
        days.includes(day) &&
        (after === undefined || (typeof after === 'string' && after.startsWith(day)))
      ) {
        return { day, ...(after === undefined ? {} : { after }) };
      }
    }
  } catch {}
  throw new ValidationError('Invalid cursor', [
    { field: 'cursor', message: 'not a cursor issued for this range (send the same from and to with it)' },
  ]);
}
