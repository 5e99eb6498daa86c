import type { HistoryRow } from '../domain/telemetry';
import type { HistoryObject, TelemetryHistory } from '../ports/telemetry-history';
import { historyObjectKey } from './s3-telemetry-history';

/** TelemetryHistory for unit tests: committed objects by key; `failCommits` makes commits throw. */
export class InMemoryTelemetryHistory implements TelemetryHistory {
  readonly objects = new Map<string, readonly HistoryRow[]>();
  failCommits = 0;

  begin(invocationId: string, ingestDate: string): HistoryObject {
    const rows: HistoryRow[] = [];
    return {
      append: (more) => {
        rows.push(...more);
      },
      get rowCount() {
        return rows.length;
      },
      commit: async () => {
        if (rows.length === 0) return;
        if (this.failCommits > 0) {
          this.failCommits--;
          throw new Error('S3 is unavailable (test)');
        }
        this.objects.set(historyObjectKey(ingestDate, invocationId), [...rows]);
      },
    };
  }

  /** Every committed row, in commit order. */
  rows(): HistoryRow[] {
    return [...this.objects.values()].flat();
  }
}
