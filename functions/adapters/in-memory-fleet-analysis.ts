import type { DeviceAnomaly } from '../domain/anomaly';
import type {
  CohortDevice,
  CohortEntry,
  CohortStatistics,
  CohortSummary,
  FleetTotals,
} from '../domain/cohort-statistics';
import type { AnomalyStore, AnomalyWriteOutcome, DeviceAnomalyChange } from '../ports/anomaly-store';
import type { CohortPage, CohortReader } from '../ports/cohort-reader';
import type { DeviceAnomalyEvent, FleetEventPublisher } from '../ports/fleet-event-publisher';
import type { FleetMetricsPublisher } from '../ports/fleet-metrics-publisher';

interface StoredDevice extends CohortDevice {
  readonly cohort: string;
  readonly anomalyRun?: string;
}

/**
 * The fleet table's cohort entries, devices and anomaly entries in memory, with the same rules as
 * the DynamoDB adapters (a device takes one change per run); it counts writes for tests.
 */
export class InMemoryFleetAnalysisStore implements CohortReader, AnomalyStore {
  readonly cohorts = new Map<string, CohortEntry & { statistics?: CohortStatistics }>();
  readonly devices = new Map<string, StoredDevice>();
  readonly anomalies = new Map<string, Omit<DeviceAnomaly, 'calmRuns'>>();
  deviceWrites = 0;

  putCohort(entry: CohortEntry): void {
    this.cohorts.set(entry.cohort, { ...this.cohorts.get(entry.cohort), ...entry });
  }

  /** Sets a device's latest telemetry (what ingestion writes), keeping its anomaly state. */
  putDevice(
    cohort: string,
    device: Omit<CohortDevice, 'streak'> & { streak?: CohortDevice['streak'] },
  ): void {
    const current = this.devices.get(device.deviceId);
    this.devices.set(device.deviceId, {
      streak: current?.streak ?? {},
      ...(current?.anomaly ? { anomaly: current.anomaly } : {}),
      ...(current?.anomalyRun ? { anomalyRun: current.anomalyRun } : {}),
      ...device,
      cohort,
    });
  }

  async listCohorts(limit: number, cursor?: string): Promise<CohortPage> {
    const sorted = [...this.cohorts.values()].sort((a, b) => (a.cohort < b.cohort ? -1 : 1));
    const start = cursor === undefined ? 0 : sorted.findIndex((c) => c.cohort > cursor);
    const page = start < 0 ? [] : sorted.slice(start, start + limit);
    const cohorts = page.map(({ statistics: _s, ...entry }) => entry);
    const last = page.at(-1);
    return start >= 0 && start + limit < sorted.length && last
      ? { cohorts, cursor: last.cohort }
      : { cohorts };
  }

  async readCohort(cohort: string): Promise<CohortDevice[]> {
    return [...this.devices.values()]
      .filter((d) => d.cohort === cohort)
      .map(({ cohort: _c, anomalyRun: _r, ...device }) => structuredClone(device));
  }

  async applyDeviceChange(change: DeviceAnomalyChange): Promise<AnomalyWriteOutcome> {
    const current = this.devices.get(change.deviceId);
    if (!current) return 'gone';
    if (current.anomalyRun === change.runId) return 'already-applied';
    const { anomaly: _a, ...rest } = current;
    this.devices.set(change.deviceId, {
      ...rest,
      streak: change.next.streak,
      ...(change.next.anomaly ? { anomaly: change.next.anomaly } : {}),
      anomalyRun: change.runId,
    });
    if (change.transition === 'cleared') this.anomalies.delete(change.deviceId);
    if (change.transition === 'flagged' && change.next.anomaly) {
      const { calmRuns: _calm, ...flag } = change.next.anomaly;
      this.anomalies.set(change.deviceId, flag);
    }
    this.deviceWrites++;
    return 'applied';
  }

  async writeCohortStatistics(cohort: string, statistics: CohortStatistics): Promise<void> {
    const entry = this.cohorts.get(cohort);
    if (!entry || (entry.statistics && entry.statistics.analyzedAt > statistics.analyzedAt)) return;
    this.cohorts.set(cohort, { ...entry, statistics });
  }
}

/** Keeps what would have gone to EventBridge. */
export class RecordingFleetEventPublisher implements FleetEventPublisher {
  readonly published: DeviceAnomalyEvent[] = [];
  async publish(events: readonly DeviceAnomalyEvent[]): Promise<void> {
    this.published.push(...events);
  }
}

/** Keeps what would have gone to CloudWatch, one entry per request. */
export class RecordingFleetMetricsPublisher implements FleetMetricsPublisher {
  readonly cohortRequests: { cohorts: readonly CohortSummary[]; at: Date }[] = [];
  readonly totals: { totals: FleetTotals; at: Date }[] = [];
  async publishCohorts(cohorts: readonly CohortSummary[], at: Date): Promise<void> {
    this.cohortRequests.push({ cohorts, at });
  }
  async publishFleetTotals(totals: FleetTotals, at: Date): Promise<void> {
    this.totals.push({ totals, at });
  }
}
