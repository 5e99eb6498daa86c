import type { DeviceProfile } from '../domain/device';
import type { DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { IotApi } from '../shared/aws-api/iot';

/**
 * DeviceIdentityProvider on AWS IoT Core: one thing per device, one certificate made by AWS IoT
 * (the private key never touches our storage), and the fleet's device policy, which the policy
 * variable `${iot:Connection.Thing.ThingName}` scopes to the device's own topics.
 */
export class IotDeviceIdentityProvider implements DeviceIdentityProvider {
  #endpoint: Promise<string> | undefined;

  constructor(
    private readonly iot: IotApi,
    private readonly devicePolicyName: string,
  ) {}

  async provision(profile: DeviceProfile): Promise<DeviceCredentials> {
    const { deviceId, hardwareType, site, region } = profile;
    await this.iot.createThing({
      thingName: deviceId,
      attributePayload: { attributes: { hardwareType, site, region } },
    });
    const cert = await this.iot.createKeysAndCertificate({ setAsActive: true });
    if (!cert.certificateArn || !cert.certificateId || !cert.certificatePem || !cert.keyPair?.PrivateKey) {
      throw new Error('AWS IoT returned an incomplete certificate');
    }
    const credentials: DeviceCredentials = {
      certificateId: cert.certificateId,
      certificateArn: cert.certificateArn,
      certificatePem: cert.certificatePem,
      privateKey: cert.keyPair.PrivateKey,
      publicKey: cert.keyPair.PublicKey ?? '',
    };
    try {
      await this.iot.attachPolicy({ policyName: this.devicePolicyName, target: cert.certificateArn });
      await this.iot.attachThingPrincipal({ thingName: deviceId, principal: cert.certificateArn });
    } catch (error) {
      await this.deprovision(deviceId, credentials);
      throw error;
    }
    return credentials;
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

  endpoint(): Promise<string> {
    this.#endpoint ??= this.iot
      .describeEndpoint({ endpointType: 'iot:Data-ATS' })
      .then(({ endpointAddress }) => {
        if (!endpointAddress) throw new Error('AWS IoT returned no data endpoint');
        return endpointAddress;
      });
    return this.#endpoint;
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
