import type { DeviceProfile } from '../domain/device';

/** What a device gets once, at registration: the only copy of its private key. */
export interface DeviceCredentials {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly privateKey: string;
  readonly publicKey: string;
}

/** The broker-side identity of a device: an IoT thing, its X.509 certificate, and its policy. */
export interface DeviceIdentityProvider {
  provision(profile: DeviceProfile): Promise<DeviceCredentials>;
  /** Best-effort undo of `provision`; safe to call on a partly provisioned device. */
  deprovision(
    deviceId: string,
    certificate?: Pick<DeviceCredentials, 'certificateId' | 'certificateArn'>,
  ): Promise<void>;
  /** The MQTT endpoint devices connect to (host name, no scheme). */
  endpoint(): Promise<string>;
}
