import type { Device } from '../domain/device';
import type { CertificateRotation, Quarantine, Retirement } from '../domain/device-lifecycle';

/**
 * The lifecycle fields of device items. Writes are conditional, so two requests racing on one
 * device cannot both win: a lost race is `false`, and the caller reads again.
 */
export interface DeviceLifecycleStore {
  getDevice(deviceId: string): Promise<Device | undefined>;
  /**
   * Records `rotation` if the item's rotation is still the one read (`expected`, by request id;
   * none: no rotation) and the device is registered.
   */
  recordRotation(
    deviceId: string,
    rotation: CertificateRotation,
    expected: string | undefined,
  ): Promise<boolean>;
  /**
   * Makes the rotation's certificate the device's own (`certificateId`, `certificateNotAfter`) and
   * marks the rotation confirmed, if it is still `issued` under that request id.
   */
  confirmRotation(deviceId: string, requestId: string, confirmedAt: string): Promise<boolean>;
  /** Sets (or, with undefined, clears) the quarantine of a registered device. */
  setQuarantine(deviceId: string, quarantine: Quarantine | undefined): Promise<boolean>;
  /** Marks a registered device retired (a retired one stays as it is); false if unknown. */
  markRetired(deviceId: string, retirement: Retirement): Promise<boolean>;
}
