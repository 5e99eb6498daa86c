import type { AuditEntry } from '../domain/audit';
import type { AuditTrail } from '../ports/audit-trail';

export interface AuditFailureReporter {
  /** Called when an entry could not be written: the action it describes has already happened. */
  auditWriteFailed(entry: AuditEntry, error: unknown): void;
}

/**
 * Records what an operator request did, after it did it.
 * 1. Append the entry (a conditional put: never replaces one).
 * 2. If that fails, hand the whole entry and the error to the reporter (a loud log line carrying
 *    the entry, and a metric an alarm watches) and return normally: the request's answer stands.
 *
 * Why after and not before: a request audited beforehand could not run while the trail is down,
 * and the requests that matter most then (abort or pause a bad rollout) must still run. The log
 * line keeps the entry, so a gap in the table can be filled from the logs.
 */
export const makeRecordAuditEntry =
  (ports: { readonly trail: AuditTrail; readonly reporter: AuditFailureReporter }) =>
  async (entry: AuditEntry): Promise<void> => {
    try {
      await ports.trail.append(entry);
    } catch (error) {
      ports.reporter.auditWriteFailed(entry, error);
    }
  };

export type RecordAuditEntry = ReturnType<typeof makeRecordAuditEntry>;
