import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { LatestMetric } from './telemetry';

/**
 * A device as the control plane knows it. The device id is also its AWS IoT thing name,
 * its MQTT client id, and the value its IoT policy is scoped by.
 */
export type ConnectionState = 'connected' | 'disconnected' | 'unknown';

export interface DeviceProfile {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly site: string;
  readonly region: string;
}

export interface Device extends DeviceProfile {
  readonly status: 'provisioning' | 'registered';
  readonly registeredAt: string;
  readonly certificateId?: string;
  /** What the device itself last reported through its shadow; undefined until it first reports. */
  readonly firmwareVersion?: string;
  /** Shadow version of the last applied report: older or repeated reports are ignored. */
  readonly reportedShadowVersion?: number;
  readonly lastReportAt?: string;
  readonly connection: { readonly state: ConnectionState; readonly changedAt?: string };
  /** The device's own bandwidth policy; without one it follows its site's (if the site has one). */
  readonly bandwidthPolicy?: BandwidthPolicy;
  /** The application health check's verdict in the latest telemetry window; undefined until one arrives. */
  readonly health?: DeviceHealth;
  /** End of the window `health` and `metrics` come from (ISO). */
  readonly healthAt?: string;
  /** The latest window's summary per metric (`cpu.percent` → p95, mean, max, sum). */
  readonly metrics?: Readonly<Record<string, LatestMetric>>;
  /** `<region>#<site>#<hardwareType>#<version>`: the peers the analysis compares it with. */
  readonly cohort?: string;
  /** Set by the fleet analysis while the device is unlike its cohort. */
  readonly anomaly?: DeviceAnomaly;
}

export type DeviceHealth = 'healthy' | 'degraded' | 'unhealthy';

/**
 * Why the fleet analysis flagged a device: the metric, its modified z-score, and against what
 * (the analysis keeps more on the item: domain/anomaly.ts).
 */
export interface DeviceAnomaly {
  readonly metric: string;
  readonly score: number;
  readonly value?: number;
  readonly cohortMedian?: number;
  /** When it was first flagged (ISO). */
  readonly since?: string;
}

/**
 * The last time the broker heard from the device: its latest report, or its latest connect or
 * disconnect (a disconnect also means it was there until then). Derived, so it never disagrees.
 */
export function lastSeenAt(device: Device): string | undefined {
  const times = [device.lastReportAt, device.connection.changedAt].filter(
    (t): t is string => t !== undefined,
  );
  return times.sort().at(-1);
}

export { DEVICE_ID_PATTERN, LABEL_PATTERN } from '../../contract/identifiers';

export function newDevice(profile: DeviceProfile, now: Date): Device {
  return {
    ...profile,
    status: 'provisioning',
    registeredAt: now.toISOString(),
    connection: { state: 'unknown' },
  };
}

/** A firmware report read from the device's shadow (`state.reported`). */
export interface DeviceReport {
  readonly deviceId: string;
  readonly firmwareVersion: string;
  readonly shadowVersion: number;
  readonly reportedAt: Date;
}

/** A connect or disconnect seen by the message broker. */
export interface ConnectionEvent {
  readonly deviceId: string;
  readonly state: Exclude<ConnectionState, 'unknown'>;
  readonly at: Date;
}
