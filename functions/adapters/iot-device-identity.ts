import type { DeviceProfile } from '../domain/device';
import { ValidationError } from '../domain/errors';
import type { DeviceConnection, DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';
import type { DeviceConnectionConfig } from '../shared/device-connection-config';

/**
 * DeviceIdentityProvider on AWS IoT Core: one thing per device, one certificate (signed from the
 * device's CSR, or with a key pair made by AWS IoT; either way the private key never touches our
 * storage), and the fleet's device policy, which the policy variable
 * `${iot:Connection.Thing.ThingName}` scopes to the device's own topics.
 */
export class IotDeviceIdentityProvider implements DeviceIdentityProvider {
  #connection: Promise<DeviceConnection> | undefined;

  constructor(
    private readonly iot: IotApi,
    private readonly devicePolicyName: string,
    private readonly connectionConfig: DeviceConnectionConfig,
  ) {}

  /**
   * The certificate comes first, so that a CSR AWS IoT refuses leaves no thing behind; the thing,
   * the policy and the attachment follow, and a failure among them removes what was made.
   */
  async provision(profile: DeviceProfile, csr?: string): Promise<DeviceCredentials> {
    const { deviceId, hardwareType, site, region } = profile;
    const credentials = csr === undefined ? await this.#keysAndCertificate() : await this.#fromCsr(csr);
    try {
      await this.iot.createThing({
        thingName: deviceId,
        attributePayload: { attributes: { hardwareType, site, region } },
      });
      await this.iot.attachPolicy({ policyName: this.devicePolicyName, target: credentials.certificateArn });
      await this.iot.attachThingPrincipal({ thingName: deviceId, principal: credentials.certificateArn });
    } catch (error) {
      await this.deprovision(deviceId, credentials);
      throw error;
    }
    return credentials;
  }

  async #keysAndCertificate(): Promise<DeviceCredentials> {
    const cert = await this.iot.createKeysAndCertificate({ setAsActive: true });
    if (!cert.certificateArn || !cert.certificateId || !cert.certificatePem || !cert.keyPair?.PrivateKey) {
      throw new Error('AWS IoT returned an incomplete certificate');
    }
    return {
      certificateId: cert.certificateId,
      certificateArn: cert.certificateArn,
      certificatePem: cert.certificatePem,
      privateKey: cert.keyPair.PrivateKey,
      publicKey: cert.keyPair.PublicKey ?? '',
    };
  }

  async #fromCsr(csr: string): Promise<DeviceCredentials> {
    let cert: Awaited<ReturnType<IotApi['createCertificateFromCsr']>>;
    try {
      cert = await this.iot.createCertificateFromCsr({ certificateSigningRequest: csr, setAsActive: true });
    } catch (error) {
      // AWS IoT answers a CSR that does not parse or verify, or whose key it does not take, with
      // InvalidRequestException ("CSR violates constraints").
      if (!isAwsApiError(error, 'InvalidRequestException')) throw error;
      const message = `refused by AWS IoT (${error.message}); it must verify and hold an RSA key of at least 2048 bits or an EC key on P-256, P-384 or P-521`;
      throw new ValidationError(`Invalid request body: csr: ${message}`, [{ field: 'csr', message }]);
    }
    if (!cert.certificateArn || !cert.certificateId || !cert.certificatePem) {
      throw new Error('AWS IoT returned an incomplete certificate');
    }
    return {
      certificateId: cert.certificateId,
      certificateArn: cert.certificateArn,
      certificatePem: cert.certificatePem,
    };
  }

  async deprovision(
    deviceId: string,
    certificate?: Pick<DeviceCredentials, 'certificateId' | 'certificateArn'>,
  ) {
    if (certificate) {
      const { certificateId, certificateArn } = certificate;
      await ignoreNotFound(() =>
        this.iot.detachThingPrincipal({ thingName: deviceId, principal: certificateArn }),
      );
      await ignoreNotFound(() =>
        this.iot.detachPolicy({ policyName: this.devicePolicyName, target: certificateArn }),
      );
      await ignoreNotFound(() => this.iot.updateCertificate({ certificateId, newStatus: 'INACTIVE' }));
      await ignoreNotFound(() => this.iot.deleteCertificate({ certificateId, forceDelete: true }));
    }
    await ignoreNotFound(() => this.iot.deleteThing({ thingName: deviceId }));
  }

  connection(): Promise<DeviceConnection> {
    const { mqttHost, mqttPort, caCertificatePem } = this.connectionConfig;
    this.#connection ??= (
      mqttHost !== undefined
        ? Promise.resolve(mqttHost)
        : this.iot.describeEndpoint({ endpointType: 'iot:Data-ATS' }).then(({ endpointAddress }) => {
            if (!endpointAddress) throw new Error('AWS IoT returned no data endpoint');
            return endpointAddress;
          })
    ).then((host) => ({ mqtt: { host, port: mqttPort }, caCertificatePem }));
    // A failed lookup is asked again by the next registration, not remembered.
    this.#connection.catch(() => {
      this.#connection = undefined;
    });
    return this.#connection;
  }
}

async function ignoreNotFound<T>(call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (isAwsApiError(error, 'ResourceNotFoundException')) return undefined;
    throw error;
  }
}
