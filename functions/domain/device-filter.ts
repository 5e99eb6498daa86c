import type { ConnectionState, Device, DeviceHealth } from './device';
import { cohortKey } from './telemetry';

/**
 * What `GET /devices` can filter on. Every store applies the same meaning through
 * `matchesDeviceFilter`; a DynamoDB index or FilterExpression only narrows what it reads first.
 */
export interface DeviceFilter {
  readonly site?: string;
  readonly region?: string;
  readonly hardwareType?: string;
  /** The version of the device's cohort (see `deviceVersion`). */
  readonly version?: string;
  readonly connectionState?: ConnectionState;
  /** `unknown`: no telemetry window has arrived yet. */
  readonly health?: DeviceHealth | 'unknown';
  /** Only devices the fleet analysis has flagged. */
  readonly anomalous?: true;
}

/**
 * The version a device counts under: its cohort's, which the latest telemetry window or shadow
 * report set, so `GET /devices?version=` agrees with the summary grouped by version. Before the
 * device has a cohort, its reported firmware version.
 */
export function deviceVersion(device: Device): string | undefined {
  const prefix = cohortKey({ ...device, version: '' });
  if (device.cohort?.startsWith(prefix) && device.cohort.length > prefix.length)
    return device.cohort.slice(prefix.length);
  return device.firmwareVersion;
}

/** Whether a registered device matches every filter given; an absent filter matches all. */
export function matchesDeviceFilter(device: Device, filter: DeviceFilter): boolean {
  return (
    device.status === 'registered' &&
    (filter.site === undefined || device.site === filter.site) &&
    (filter.region === undefined || device.region === filter.region) &&
    (filter.hardwareType === undefined || device.hardwareType === filter.hardwareType) &&
    (filter.version === undefined || deviceVersion(device) === filter.version) &&
    (filter.connectionState === undefined || device.connection.state === filter.connectionState) &&
    (filter.health === undefined || (device.health ?? 'unknown') === filter.health) &&
    (filter.anomalous === undefined || device.anomaly !== undefined)
  );
}
