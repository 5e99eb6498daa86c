import { type Cohort, cohortKeyOf, type DeviceTelemetry } from '../domain/telemetry-gate';
import {
  type LocatedDeviceTelemetry,
  MAX_TELEMETRY_READ,
  type TelemetryBaseline,
} from '../ports/telemetry-baseline';

/** A device's telemetry as the in-memory fleet keeps it: its version sets its cohort. */
export type StoredDeviceTelemetry = LocatedDeviceTelemetry & { readonly version: string };

/**
 * TelemetryBaseline for unit tests: the same bounds as DynamoDbTelemetryBaseline (≤ 100 devices a
 * read, the first of a cohort by device id), and it counts its reads, so tests can hold a gate to
 * its read budget.
 */
export class InMemoryTelemetryBaseline implements TelemetryBaseline {
  readonly #devices = new Map<string, StoredDeviceTelemetry>();
  /** Reads so far: `deviceReads` BatchGetItem-like calls (`devicesRead` keys), `cohortQueries` Queries. */
  readonly calls = { deviceReads: 0, devicesRead: 0, cohortQueries: 0 };

  /** Records (or replaces) a device's latest telemetry, as the ingestion would. */
  put(device: StoredDeviceTelemetry): void {
    this.#devices.set(device.deviceId, device);
  }

  async latestOfDevices(deviceIds: readonly string[]): Promise<LocatedDeviceTelemetry[]> {
    if (deviceIds.length > MAX_TELEMETRY_READ)
      throw new Error(`latestOfDevices reads at most ${MAX_TELEMETRY_READ} devices at a time`);
    this.calls.deviceReads++;
    this.calls.devicesRead += deviceIds.length;
    return deviceIds.flatMap((id) => {
      const device = this.#devices.get(id);
      return device ? [structuredClone(device)] : [];
    });
  }

  async latestOfCohort(cohort: Cohort, limit: number): Promise<DeviceTelemetry[]> {
    this.calls.cohortQueries++;
    const key = cohortKeyOf(cohort);
    return [...this.#devices.values()]
      .filter((d) => cohortKeyOf(d) === key)
      .sort((a, b) => a.deviceId.localeCompare(b.deviceId))
      .slice(0, Math.min(limit, MAX_TELEMETRY_READ))
      .map(({ deviceId, healthAt, windowSeconds, metrics }) => ({
        deviceId,
        version: cohort.version,
        ...(healthAt === undefined ? {} : { healthAt }),
        ...(windowSeconds === undefined ? {} : { windowSeconds }),
        metrics: structuredClone(metrics),
      }));
  }
}
