import type { TelemetryWindowV1 } from '../../contract/telemetry';
import { type Device, type DeviceAnomaly, lastSeenAt } from '../domain/device';
import type { ReceivedAlert } from '../ports/fleet-health-reader';

/** How the API shows a device: a stable JSON shape, with `null` for what is not known yet. */
export function deviceView(device: Device) {
  return {
    deviceId: device.deviceId,
    hardwareType: device.hardwareType,
    site: device.site,
    region: device.region,
    registeredAt: device.registeredAt,
    certificateId: device.certificateId ?? null,
    firmwareVersion: device.firmwareVersion ?? null,
    lastSeenAt: lastSeenAt(device) ?? null,
    connection: { state: device.connection.state, changedAt: device.connection.changedAt ?? null },
    /** The device's own; its site's (if any) applies when this is null. */
    bandwidthPolicy: device.bandwidthPolicy ?? null,
    /** From the latest telemetry window; null until the device sends one. */
    health: device.health ?? null,
    healthAt: device.healthAt ?? null,
    metrics: device.metrics ?? null,
    /** Set while the fleet analysis finds the device unlike its cohort. */
    anomaly: device.anomaly ? anomalyView(device.anomaly) : null,
  };
}

/** The analysis's flag as the API shows it (also in `GET /fleet/anomalies`). */
export function anomalyView(anomaly: DeviceAnomaly) {
  return {
    metric: anomaly.metric,
    score: anomaly.score,
    value: anomaly.value ?? null,
    cohortMedian: anomaly.cohortMedian ?? null,
    since: anomaly.since ?? null,
  };
}

/** A telemetry window as the API shows it: the contract's fields, with times as ISO strings. */
export function windowView(window: TelemetryWindowV1) {
  return {
    seq: window.seq,
    start: new Date(window.start).toISOString(),
    seconds: window.seconds,
    firmwareVersion: window.firmwareVersion,
    health: window.health,
    metrics: window.metrics,
    partial: window.partial ?? false,
    dropped: window.dropped ?? 0,
  };
}

/** An alert as the API shows it: the contract's fields, with `at` as an ISO string. */
export function alertView(alert: ReceivedAlert) {
  return {
    alertId: alert.alertId,
    kind: alert.kind,
    ruleId: alert.ruleId,
    state: alert.state,
    severity: alert.severity,
    at: new Date(alert.at).toISOString(),
    receivedAt: alert.receivedAt,
    firmwareVersion: alert.firmwareVersion,
    metric: alert.metric ?? null,
    value: alert.value ?? null,
    op: alert.op ?? null,
    threshold: alert.threshold ?? null,
    message: alert.message ?? null,
  };
}
