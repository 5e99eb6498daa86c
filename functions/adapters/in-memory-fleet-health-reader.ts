import type { TelemetryWindowV1 } from '../../contract/telemetry';
import type { FleetSummaryCohort } from '../domain/fleet-summary';
import type {
  AnomalyEntry,
  AnomalyPage,
  FleetHealthReader,
  ReceivedAlert,
} from '../ports/fleet-health-reader';
import { decodeCursor, encodeCursor } from './page-cursor';

/** FleetHealthReader for unit tests: what ingestion and the analysis would have written, held in maps. */
export class InMemoryFleetHealthReader implements FleetHealthReader {
  readonly cohorts: FleetSummaryCohort[] = [];
  readonly anomalies = new Map<string, AnomalyEntry>();
  readonly windows = new Map<string, TelemetryWindowV1[]>();
  readonly alerts = new Map<string, ReceivedAlert[]>();

  async listCohorts(): Promise<FleetSummaryCohort[]> {
    return [...this.cohorts];
  }

  async listAnomalies(limit: number, cursor?: string): Promise<AnomalyPage> {
    const after =
      cursor === undefined
        ? undefined
        : decodeCursor<{ after: string }>(cursor, (key) => typeof key.after === 'string').after;
    const sorted = [...this.anomalies.values()]
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .filter((a) => after === undefined || a.deviceId > after);
    const items = sorted.slice(0, limit);
    const last = items.at(-1);
    return sorted.length > limit && last
      ? { items, nextCursor: encodeCursor({ after: last.deviceId }) }
      : { items };
  }

  async recentWindows(
    deviceId: string,
    since: Date | undefined,
    limit: number,
  ): Promise<TelemetryWindowV1[]> {
    return (this.windows.get(deviceId) ?? [])
      .filter((w) => since === undefined || w.start >= since.getTime())
      .sort((a, b) => b.seq - a.seq)
      .slice(0, limit);
  }

  async recentAlerts(deviceId: string, since: Date | undefined, limit: number): Promise<ReceivedAlert[]> {
    return (this.alerts.get(deviceId) ?? [])
      .filter((a) => since === undefined || a.at >= since.getTime())
      .sort((a, b) => b.alertId.localeCompare(a.alertId))
      .slice(0, limit);
  }
}
