import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  type IoTClient,
  ResourceNotFoundException,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import type { DeviceProfile } from '../domain/device';
import type { DeviceCredentials, DeviceIdentityProvider } from '../ports/device-identity';

/**
 * DeviceIdentityProvider on AWS IoT Core: one thing per device, one certificate made by AWS IoT
 * (the private key never touches our storage), and the fleet's device policy, which the policy
 * variable `${iot:Connection.Thing.ThingName}` scopes to the device's own topics.
 */
export class IotDeviceIdentityProvider implements DeviceIdentityProvider {
  #endpoint: Promise<string> | undefined;

  constructor(
    private readonly iot: IoTClient,
    private readonly devicePolicyName: string,
  ) {}

  async provision(profile: DeviceProfile): Promise<DeviceCredentials> {
    const { deviceId, hardwareType, site, region } = profile;
    await this.iot.send(
      new CreateThingCommand({
        thingName: deviceId,
        attributePayload: { attributes: { hardwareType, site, region } },
      }),
    );
    const cert = await this.iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
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
      await this.iot.send(
        new AttachPolicyCommand({ policyName: this.devicePolicyName, target: cert.certificateArn }),
      );
      await this.iot.send(
        new AttachThingPrincipalCommand({ thingName: deviceId, principal: cert.certificateArn }),
      );
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
        this.iot.send(new DetachThingPrincipalCommand({ thingName: deviceId, principal: certificateArn })),
      );
      await ignoreNotFound(() =>
        this.iot.send(new DetachPolicyCommand({ policyName: this.devicePolicyName, target: certificateArn })),
      );
      await ignoreNotFound(() =>
        this.iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' })),
      );
      await ignoreNotFound(() =>
        this.iot.send(new DeleteCertificateCommand({ certificateId, forceDelete: true })),
      );
    }
    await ignoreNotFound(() => this.iot.send(new DeleteThingCommand({ thingName: deviceId })));
  }

  endpoint(): Promise<string> {
    this.#endpoint ??= this.iot
      .send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }))
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
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}
