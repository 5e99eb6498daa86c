import type { DeviceProfile } from '../domain/device';

/**
 * What a device gets once, at registration: its certificate and, when AWS IoT made the key pair,
 * the only copy of its private key. A device that sent a CSR keeps its key: then there is none.
 */
export interface DeviceCredentials {
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem: string;
  readonly privateKey?: string;
  readonly publicKey?: string;
}

/** Where and how a device connects: the MQTT broker (mutual TLS) and the CA its certificate chains to. */
export interface DeviceConnection {
  readonly mqtt: { readonly host: string; readonly port: number };
  readonly caCertificatePem: string;
}

/** The broker-side identity of a device: an IoT thing, its X.509 certificate, and its policy. */
export interface DeviceIdentityProvider {
  /**
   * Creates the thing and a certificate: from `csr` (PEM PKCS#10) when given, so the private key
   * never leaves the device, else with a key pair made by the provider. A CSR the certificate
   * authority refuses is a ValidationError naming `csr`, with nothing left behind.
   */
  provision(profile: DeviceProfile, csr?: string): Promise<DeviceCredentials>;
  /** Best-effort undo of `provision`; safe to call on a partly provisioned device. */
  deprovision(
    deviceId: string,
    certificate?: Pick<DeviceCredentials, 'certificateId' | 'certificateArn'>,
  ): Promise<void>;
  /** Where devices connect, and the CA that signed the broker's certificate. */
  connection(): Promise<DeviceConnection>;
}
