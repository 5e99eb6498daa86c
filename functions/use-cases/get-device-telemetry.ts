import type { TelemetryWindowV1 } from '../../contract/telemetry';
import { DeviceNotFoundError } from '../domain/errors';
import type { FleetHealthReader, ReceivedAlert } from '../ports/fleet-health-reader';
import type { FleetStore } from '../ports/fleet-store';

export interface DeviceTelemetryQuery {
  readonly deviceId: string;
  readonly since?: Date;
  /** Windows and alerts each, at most. */
  readonly limit: number;
}

export interface DeviceTelemetry {
  /** Newest first. */
  readonly windows: readonly TelemetryWindowV1[];
  /** Newest first. */
  readonly alerts: readonly ReceivedAlert[];
}

/**
 * `GET /devices/{deviceId}/telemetry`:
 * 1. read the device item, its latest windows and its latest alerts at once (three bounded reads);
 * 2. an unknown or unregistered device is DeviceNotFoundError, whatever the others found.
 */
export const makeGetDeviceTelemetry =
  (ports: { fleetStore: FleetStore; health: FleetHealthReader }) =>
  async (query: DeviceTelemetryQuery): Promise<DeviceTelemetry> => {
    const [device, windows, alerts] = await Promise.all([
      ports.fleetStore.getDevice(query.deviceId),
      ports.health.recentWindows(query.deviceId, query.since, query.limit),
      ports.health.recentAlerts(query.deviceId, query.since, query.limit),
    ]);
    if (device?.status !== 'registered') throw new DeviceNotFoundError(query.deviceId);
    return { windows, alerts };
  };
