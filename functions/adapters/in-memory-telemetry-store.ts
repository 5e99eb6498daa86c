import type { Device } from '../domain/device';
import { type Cohort, cohortKey, type LatestHealth } from '../domain/telemetry';
import type {
  LatestOutcome,
  StoredAlert,
  StoredTelemetryBatch,
  TelemetryDevice,
  TelemetryStore,
} from '../ports/telemetry-store';
import { alertSortKey, telemetrySortKey } from './dynamodb-telemetry-store';

/** What the device item carries from telemetry (the attributes DynamoDbTelemetryStore sets). */
export interface DeviceTelemetry {
  readonly health: LatestHealth['health'];
  readonly healthAt: string;
  readonly telemetrySeconds: number;
  readonly telemetrySeq: number;
  readonly metrics: LatestHealth['metrics'];
  readonly telemetryVersion: string;
  readonly cohort?: string;
}

/**
 * TelemetryStore for unit tests, with DynamoDbTelemetryStore's semantics. Devices come from a
 * fleet store (registered ones only); what telemetry adds to them is kept here. `writes` counts
 * the writes that changed something, so tests can see that a duplicate wrote nothing.
 */
export class InMemoryTelemetryStore implements TelemetryStore {
  readonly telemetry = new Map<string, DeviceTelemetry>();
  /** By `<deviceId> <sort key>`. */
  readonly batches = new Map<string, StoredTelemetryBatch>();
  readonly alerts = new Map<string, StoredAlert>();
  readonly cohorts = new Map<string, Cohort>();
  writes = 0;

  constructor(private readonly devices: { getDevice(deviceId: string): Promise<Device | undefined> }) {}

  async applyLatest(deviceId: string, latest: LatestHealth): Promise<LatestOutcome> {
    const device = await this.getDevice(deviceId);
    if (!device) return { kind: 'unknown' };
    const current = this.telemetry.get(deviceId);
    if (current !== undefined && current.telemetrySeq >= latest.seq) return { kind: 'stale', device };
    this.telemetry.set(deviceId, {
      ...current,
      health: latest.health,
      healthAt: latest.healthAt,
      telemetrySeconds: latest.windowSeconds,
      telemetrySeq: latest.seq,
      metrics: latest.metrics,
      telemetryVersion: latest.firmwareVersion,
    });
    this.writes++;
    return { kind: 'applied', device: { ...device, telemetrySeq: latest.seq } };
  }

  async setDeviceCohort(deviceId: string, cohort: Cohort, seq: number): Promise<boolean> {
    const current = this.telemetry.get(deviceId);
    if (current?.telemetrySeq !== seq) return false;
    this.telemetry.set(deviceId, { ...current, cohort: cohortKey(cohort) });
    this.writes++;
    return true;
  }

  async addCohort(cohort: Cohort): Promise<boolean> {
    const key = cohortKey(cohort);
    if (this.cohorts.has(key)) return false;
    this.cohorts.set(key, cohort);
    this.writes++;
    return true;
  }

  async putBatch(batch: StoredTelemetryBatch): Promise<boolean> {
    const key = `${batch.deviceId} ${telemetrySortKey(batch.firstSeq)}`;
    const existing = this.batches.get(key);
    if (existing && existing.ingestMessageId !== batch.ingestMessageId) return false;
    this.batches.set(key, batch);
    this.writes++;
    return true;
  }

  async getDevice(deviceId: string): Promise<TelemetryDevice | undefined> {
    const device = await this.devices.getDevice(deviceId);
    if (device?.status !== 'registered') return undefined;
    const telemetry = this.telemetry.get(deviceId);
    return {
      deviceId: device.deviceId,
      region: device.region,
      site: device.site,
      hardwareType: device.hardwareType,
      ...(telemetry?.cohort === undefined ? {} : { cohort: telemetry.cohort }),
      ...(telemetry === undefined ? {} : { telemetrySeq: telemetry.telemetrySeq }),
    };
  }

  async putAlert(stored: StoredAlert): Promise<boolean> {
    const key = `${stored.deviceId} ${alertSortKey(stored.alert.alertId)}`;
    const existing = this.alerts.get(key);
    if (existing && existing.ingestMessageId !== stored.ingestMessageId) return false;
    this.alerts.set(key, stored);
    this.writes++;
    return true;
  }
}
