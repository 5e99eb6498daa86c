import type { Device } from '../domain/device';
import { DeviceRetiredError, isRolloutJobId, type Quarantine } from '../domain/device-lifecycle';
import { DeviceNotFoundError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { DeviceCertificates } from '../ports/device-certificates';
import type { DeviceLifecycleStore } from '../ports/device-lifecycle-store';

export interface QuarantineInput {
  readonly deviceId: string;
  readonly reason: string;
  /** Who decided: the operator's user name, or the anomaly rule. */
  readonly by: string;
  readonly source: Quarantine['source'];
}

export interface QuarantinePorts {
  readonly store: DeviceLifecycleStore;
  readonly certificates: DeviceCertificates;
  readonly clock: Clock;
}

/**
 * Quarantines a device:
 * 1. a retired device cannot be quarantined (DeviceRetiredError); an unknown one is not found;
 * 2. the quarantine goes on the device item first: from then on target resolution and wave
 *    dispatch skip it (an already quarantined device keeps its first reason and time);
 * 3. each of its certificates swaps the device policy for the quarantine policy (only connect,
 *    telemetry, alerts, jobs, commands and certificate rotation);
 * 4. its queued and in-progress executions of rollout jobs are canceled (they count as failed in
 *    their wave); command jobs are left to run.
 * Running it again finishes what a failed run left undone.
 */
export const makeQuarantineDevice =
  ({ store, certificates, clock }: QuarantinePorts) =>
  async (input: QuarantineInput): Promise<{ device: Device; canceledJobs: readonly string[] }> => {
    const { deviceId } = input;
    const device = await registered(store, deviceId);
    if (!device.quarantine) {
      const quarantine: Quarantine = {
        reason: input.reason,
        by: input.by,
        source: input.source,
        since: clock.now().toISOString(),
      };
      if (!(await store.setQuarantine(deviceId, quarantine))) throw new DeviceRetiredError(deviceId);
    }
    for (const certificate of await certificates.listCertificates(deviceId))
      await certificates.swapPolicy(certificate, 'quarantine');
    const canceledJobs = await certificates.cancelJobExecutions(deviceId, isRolloutJobId);
    return { device: await registered(store, deviceId), canceledJobs };
  };

/**
 * Releases a quarantined device: its certificates get the device policy back (attached before the
 * quarantine policy is detached), then the item drops the quarantine, so rollouts take it again.
 * Releasing a device that is not quarantined changes nothing.
 */
export const makeReleaseDevice =
  ({ store, certificates }: Omit<QuarantinePorts, 'clock'>) =>
  async (input: { deviceId: string }): Promise<Device> => {
    const { deviceId } = input;
    const device = await registered(store, deviceId);
    if (!device.quarantine) return device;
    for (const certificate of await certificates.listCertificates(deviceId))
      await certificates.swapPolicy(certificate, 'device');
    if (!(await store.setQuarantine(deviceId, undefined))) throw new DeviceRetiredError(deviceId);
    return registered(store, deviceId);
  };

async function registered(store: DeviceLifecycleStore, deviceId: string): Promise<Device> {
  const device = await store.getDevice(deviceId);
  if (!device || device.status === 'provisioning') throw new DeviceNotFoundError(deviceId);
  if (device.status === 'retired') throw new DeviceRetiredError(deviceId);
  return device;
}
