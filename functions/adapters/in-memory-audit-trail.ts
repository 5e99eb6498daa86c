import type { AuditEntry } from '../domain/audit';
import { type AuditDayPage, type AuditDayRead, type AuditTrail, auditSortKey } from '../ports/audit-trail';

/** The audit trail in memory, for unit tests: the same paging and filtering as the DynamoDB one. */
export class InMemoryAuditTrail implements AuditTrail {
  readonly #entries = new Map<string, AuditEntry>();
  /** Fails every append when set: what a throttled or unreachable table does. */
  failAppends: Error | undefined;

  async append(entry: AuditEntry): Promise<void> {
    if (this.failAppends) throw this.failAppends;
    const key = `${entry.at.slice(0, 10)}|${auditSortKey(entry)}`;
    if (!this.#entries.has(key)) this.#entries.set(key, structuredClone(entry));
  }

  async readDay(read: AuditDayRead): Promise<AuditDayPage> {
    const low = read.from.toISOString();
    const high = read.after ?? `${read.to.toISOString()}#\uffff`;
    const day = [...this.#entries.values()]
      .filter((e) => e.at.slice(0, 10) === read.day)
      .map((e) => ({ sk: auditSortKey(e), entry: e }))
      .filter(({ sk }) => sk >= low && sk < high)
      .sort((a, b) => (a.sk < b.sk ? 1 : -1));
    const scanned = day.slice(0, read.limit);
    const { actor, deviceId, rolloutId } = read.filter;
    const items = scanned
      .map(({ entry }) => entry)
      .filter(
        (e) =>
          (actor === undefined || e.actor.username === actor || e.actor.sub === actor) &&
          (deviceId === undefined || e.deviceId === deviceId) &&
          (rolloutId === undefined || e.rolloutId === rolloutId),
      );
    const last = scanned.at(-1);
    return {
      items: structuredClone(items),
      read: scanned.length,
      ...(day.length > read.limit && last ? { next: last.sk } : {}),
    };
  }

  get size(): number {
    return this.#entries.size;
  }
}
