import type { DeviceProfile } from '../domain/device';
import { ValidationError } from '../domain/errors';
import type { DeviceConnection, DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';

/**
 * DeviceIdentityProvider for unit tests: things and certificates in maps, with AWS IoT's order
 * (certificate, then thing, then attachments) and its refusal of a CSR it cannot sign.
 */
export class InMemoryDeviceIdentity implements DeviceIdentityProvider {
  readonly things = new Map<string, DeviceProfile>();
  /** Certificate id → the CSR it was signed from (undefined: the provider made the key pair). */
  readonly certificates = new Map<string, string | undefined>();
  /** Which CSRs the certificate authority signs. @default every one */
  acceptsCsr: (csr: string) => boolean = () => true;
  /** Device ids whose attachment step fails, as a throttled IoT control plane would. */
  readonly failingAttachments = new Set<string>();
  #issued = 0;

  constructor(
    readonly connectionInfo: DeviceConnection = {
      mqtt: { host: 'iot.example', port: 8883 },
      caCertificatePem: 'CA PEM',
    },
  ) {}

  async provision(profile: DeviceProfile, csr?: string): Promise<DeviceCredentials> {
    if (csr !== undefined && !this.acceptsCsr(csr)) {
      throw new ValidationError('Invalid request body: csr: refused', [{ field: 'csr', message: 'refused' }]);
    }
    const certificateId = `cert-${++this.#issued}`;
    this.certificates.set(certificateId, csr);
    const credentials: DeviceCredentials = {
      certificateId,
      certificateArn: `arn:aws:iot:eu-west-1:000000000000:cert/${certificateId}`,
      certificatePem: `PEM of ${certificateId}`,
      ...(csr === undefined ? { privateKey: `KEY of ${certificateId}`, publicKey: 'PUB' } : {}),
    };
    this.things.set(profile.deviceId, profile);
    if (this.failingAttachments.has(profile.deviceId)) {
      await this.deprovision(profile.deviceId, credentials);
      throw new Error(`attaching ${certificateId} to ${profile.deviceId} failed`);
    }
    return credentials;
  }

  async deprovision(deviceId: string, certificate?: Pick<DeviceCredentials, 'certificateId'>) {
    if (certificate) this.certificates.delete(certificate.certificateId);
    this.things.delete(deviceId);
  }

  async connection(): Promise<DeviceConnection> {
    return this.connectionInfo;
  }
}
