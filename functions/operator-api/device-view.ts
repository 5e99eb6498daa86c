import { type Device, lastSeenAt } from '../domain/device';

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
  };
}
