import type { AuditEntry } from '../domain/audit';

/** What a listing of the trail keeps: every given field must match (the actor by user name or sub). */
export interface AuditFilter {
  readonly actor?: string;
  readonly deviceId?: string;
  readonly rolloutId?: string;
}

export interface AuditDayRead {
  /** The day's partition, `yyyy-mm-dd` (UTC). */
  readonly day: string;
  /** Only entries at or after `from` and at or before `to`. */
  readonly from: Date;
  readonly to: Date;
  /** Continue below this sort key (`<at>#<requestId>`), as a previous read of the day handed it out. */
  readonly after?: string;
  readonly filter: AuditFilter;
  /** Most entries to read (before the filter): what bounds the cost of one request. */
  readonly limit: number;
}

export interface AuditDayPage {
  /** Entries that matched the filter, newest first. */
  readonly items: AuditEntry[];
  /** Entries read, matching or not. */
  readonly read: number;
  /** Where to continue in the same day; undefined when the day is read to `from`. */
  readonly next?: string;
}

/**
 * The append-only store of audit entries, one partition per UTC day. There is no update and no
 * delete: entries leave only by the store's retention (TTL).
 */
export interface AuditTrail {
  /** Adds an entry; one with the same time and request id already there is left as it is. */
  append(entry: AuditEntry): Promise<void>;
  /** Reads one day newest first, a bounded number of entries. */
  readDay(read: AuditDayRead): Promise<AuditDayPage>;
}

/** The sort key of an entry within its day: time first, so a day reads in order. */
export const auditSortKey = (entry: Pick<AuditEntry, 'at' | 'requestId'>) => `${entry.at}#${entry.requestId}`;
