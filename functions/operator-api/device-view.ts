import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { DeviceInventoryV1 } from '../../contract/device-commands';
import { AlertV1, HealthState, type TelemetryWindowV1 } from '../../contract/telemetry';
import * as z from '../../contract/zod-mini';
import { type Device, type DeviceAnomaly, lastSeenAt } from '../domain/device';
import { lifecycleStatusOf } from '../domain/device-lifecycle';
import type { ReceivedAlert } from '../ports/fleet-health-reader';

const nullableString = z.nullable(z.string());

/** The analysis's flag as the API shows it; the OpenAPI document is generated from this. */
export const AnomalyView = z.object({
  metric: z.string(),
  score: z.number(),
  value: z.nullable(z.number()),
  cohortMedian: z.nullable(z.number()),
  since: nullableString,
});
export type AnomalyView = z.output<typeof AnomalyView>;

/** The shape `deviceView` returns: typed against it, so the view and the OpenAPI document agree. */
export const DeviceView = z.object({
  deviceId: z.string(),
  hardwareType: z.string(),
  site: z.string(),
  region: z.string(),
  registeredAt: z.string(),
  certificateId: nullableString,
  status: z.enum(['active', 'quarantined', 'retired']),
  quarantine: z.nullable(
    z.object({
      reason: z.string(),
      since: z.string(),
      by: z.string(),
      source: z.enum(['operator', 'anomaly']),
    }),
  ),
  retirement: z.nullable(z.object({ reason: z.string(), at: z.string(), by: z.string() })),
  certificateNotAfter: nullableString,
  rotation: z.nullable(
    z.object({
      requestId: z.string(),
      state: z.enum(['issued', 'confirmed']),
      certificateId: z.string(),
      notAfter: z.string(),
      previousCertificateId: nullableString,
      requestedAt: z.string(),
      confirmedAt: nullableString,
    }),
  ),
  firmwareVersion: nullableString,
  lastSeenAt: nullableString,
  connection: z.object({
    state: z.enum(['connected', 'disconnected', 'unknown']),
    changedAt: nullableString,
  }),
  bandwidthPolicy: z.nullable(BandwidthPolicy),
  health: z.nullable(HealthState),
  healthAt: nullableString,
  metrics: z.nullable(
    z.record(z.string(), z.object({ p95: z.number(), mean: z.number(), max: z.number(), sum: z.number() })),
  ),
  anomaly: z.nullable(AnomalyView),
  /** From the device's latest inventory report (remote command `inventory`). */
  inventory: z.nullable(DeviceInventoryV1),
});
export type DeviceView = z.output<typeof DeviceView>;

/** How the API shows a device: a stable JSON shape, with `null` for what is not known yet. */
export function deviceView(device: Device): DeviceView {
  return {
    deviceId: device.deviceId,
    hardwareType: device.hardwareType,
    site: device.site,
    region: device.region,
    registeredAt: device.registeredAt,
    certificateId: device.certificateId ?? null,
    /** active, quarantined or retired (domain/device-lifecycle.ts), with the why and who of each. */
    status: lifecycleStatusOf(device),
    quarantine: device.quarantine ?? null,
    retirement: device.retirement ?? null,
    certificateNotAfter: device.certificateNotAfter ?? null,
    /** The latest certificate rotation: `issued` (waiting for the device to confirm) or `confirmed`. */
    rotation: device.rotation
      ? {
          requestId: device.rotation.requestId,
          state: device.rotation.state,
          certificateId: device.rotation.certificateId,
          notAfter: device.rotation.notAfter,
          previousCertificateId: device.rotation.previousCertificateId ?? null,
          requestedAt: device.rotation.requestedAt,
          confirmedAt: device.rotation.confirmedAt ?? null,
        }
      : null,
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
    inventory: device.inventory ?? null,
  };
}

/** The analysis's flag as the API shows it (also in `GET /fleet/anomalies`). */
export function anomalyView(anomaly: DeviceAnomaly): AnomalyView {
  return {
    metric: anomaly.metric,
    score: anomaly.score,
    value: anomaly.value ?? null,
    cohortMedian: anomaly.cohortMedian ?? null,
    since: anomaly.since ?? null,
  };
}

/** The shape `windowView` returns. */
export const TelemetryWindowView = z.object({
  seq: z.number(),
  start: z.string(),
  seconds: z.number(),
  firmwareVersion: z.string(),
  health: HealthState,
  metrics: z.record(
    z.string(),
    z.object({
      count: z.number(),
      min: z.number(),
      max: z.number(),
      mean: z.number(),
      p95: z.number(),
      sum: z.number(),
    }),
  ),
  partial: z.boolean(),
  dropped: z.number(),
});
export type TelemetryWindowView = z.output<typeof TelemetryWindowView>;

/** A telemetry window as the API shows it: the contract's fields, with times as ISO strings. */
export function windowView(window: TelemetryWindowV1): TelemetryWindowView {
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

const alertShape = AlertV1.def.shape;
/** The shape `alertView` returns. */
export const AlertView = z.object({
  alertId: z.string(),
  kind: alertShape.kind,
  ruleId: z.string(),
  state: alertShape.state,
  severity: alertShape.severity,
  at: z.string(),
  receivedAt: z.string(),
  firmwareVersion: z.string(),
  metric: nullableString,
  value: z.nullable(z.number()),
  op: z.nullable(z.enum(['>', '>=', '<', '<='])),
  threshold: z.nullable(z.number()),
  message: nullableString,
});
export type AlertView = z.output<typeof AlertView>;

/** An alert as the API shows it: the contract's fields, with `at` as an ISO string. */
export function alertView(alert: ReceivedAlert): AlertView {
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
