import type { Device } from '../domain/device';
import { DeviceNotFoundError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { DeviceCertificates } from '../ports/device-certificates';
import type { DeviceLifecycleStore } from '../ports/device-lifecycle-store';

export interface RetireDeviceInput {
  readonly deviceId: string;
  readonly reason: string;
  readonly by: string;
}

export interface RetiredDevice {
  readonly device: Device;
  readonly revokedCertificates: readonly string[];
  readonly leftThingGroups: readonly string[];
  readonly canceledJobs: readonly string[];
}

/**
 * Retires a device for good, keeping its history:
 * 1. the item becomes `status: retired` first (an unknown device is not found): from then on its
 *    events are dropped at ingest, rollouts skip it, and the API answers for it read-only;
 * 2. every certificate of the thing is REVOKED and loses its policies (it stays attached to the
 *    thing as a record). AWS IoT refuses a revoked certificate at CONNECT and ends its open
 *    sessions within minutes;
 * 3. the thing leaves every static thing group;
 * 4. all its queued and in-progress job executions are canceled.
 * Telemetry, alerts and rollout records stay. Idempotent: retiring a retired device runs steps
 * 2-4 again, which finishes a run that failed part way and changes nothing otherwise.
 */
export const makeRetireDevice =
  (ports: { store: DeviceLifecycleStore; certificates: DeviceCertificates; clock: Clock }) =>
  async (input: RetireDeviceInput): Promise<RetiredDevice> => {
    const { store, certificates, clock } = ports;
    const { deviceId } = input;
    const before = await store.getDevice(deviceId);
    if (!before || before.status === 'provisioning') throw new DeviceNotFoundError(deviceId);
    if (before.status !== 'retired')
      await store.markRetired(deviceId, {
        reason: input.reason,
        by: input.by,
        at: clock.now().toISOString(),
      });
    const revokedCertificates: string[] = [];
    for (const certificate of await certificates.listCertificates(deviceId)) {
      await certificates.revoke(certificate);
      revokedCertificates.push(certificate.certificateId);
    }
    const leftThingGroups = await certificates.leaveThingGroups(deviceId);
    const canceledJobs = await certificates.cancelJobExecutions(deviceId, () => true);
    const device = await store.getDevice(deviceId);
    if (!device) throw new DeviceNotFoundError(deviceId);
    return { device, revokedCertificates, leftThingGroups, canceledJobs };
  };
