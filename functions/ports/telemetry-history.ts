import type { HistoryRow } from '../domain/telemetry';

/** One history object being written: the rows of one ingest invocation. */
export interface HistoryObject {
  append(rows: readonly HistoryRow[]): void;
  /** Rows appended so far. */
  readonly rowCount: number;
  /** Writes the object (nothing when no rows were appended). Throws if it could not be written. */
  commit(): Promise<void>;
}

/**
 * The long-term telemetry history (the telemetry bucket, queried with Athena): one object per
 * ingest invocation, `history/dt=<ingest date>/<invocation id>.json.gz`.
 */
export interface TelemetryHistory {
  begin(invocationId: string, ingestDate: string): HistoryObject;
}
