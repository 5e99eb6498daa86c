import { describe, expect, it } from 'vitest';
import { IotDeviceIdentityProvider } from '../../functions/adapters/iot-device-identity';
import { ValidationError } from '../../functions/domain/errors';
import { AwsApiError } from '../../functions/shared/aws-api/aws-service';
import type { IotApi } from '../../functions/shared/aws-api/iot';

const profile = { deviceId: 'gw-001', hardwareType: 'rpi4', site: 'plant-a', region: 'eu' };
const CSR = '-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n';
const CERT = { certificateArn: 'arn:aws:iot:r:a:cert/c1', certificateId: 'c1', certificatePem: 'CERT' };

/** An IotApi that records each call by name, and answers or fails as told. */
function fakeIot(overrides: Partial<Record<keyof IotApi, (input: unknown) => Promise<unknown>>> = {}) {
  const calls: string[] = [];
  const api = new Proxy(
    {},
    {
      get: (_target, name: string) => async (input: unknown) => {
        calls.push(name);
        const override = overrides[name as keyof IotApi];
        if (override) return override(input);
        if (name === 'createKeysAndCertificate')
          return { ...CERT, keyPair: { PrivateKey: 'KEY', PublicKey: 'PUB' } };
        if (name === 'createCertificateFromCsr') return CERT;
        if (name === 'describeEndpoint') return { endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' };
        return {};
      },
    },
  ) as IotApi;
  return { api, calls };
}

const config = { mqttPort: 8883, caCertificatePem: 'AMAZON ROOT CA 1' };

describe('IotDeviceIdentityProvider.provision', () => {
  it('signs the CSR (active) instead of making a key pair, and returns no private key', async () => {
    let request: unknown;
    const { api, calls } = fakeIot({
      createCertificateFromCsr: async (input) => {
        request = input;
        return CERT;
      },
    });

    const credentials = await new IotDeviceIdentityProvider(api, 'policy', config).provision(profile, CSR);

    expect(request).toEqual({ certificateSigningRequest: CSR, setAsActive: true });
    expect(credentials).toEqual({
      certificateId: 'c1',
      certificateArn: CERT.certificateArn,
      certificatePem: 'CERT',
    });
    expect(calls).toEqual([
      'createCertificateFromCsr',
      'createThing',
      'attachPolicy',
      'attachThingPrincipal',
    ]);
  });

  it('makes the key pair when there is no CSR', async () => {
    const { api, calls } = fakeIot();

    const credentials = await new IotDeviceIdentityProvider(api, 'policy', config).provision(profile);

    expect(credentials.privateKey).toBe('KEY');
    expect(calls[0]).toBe('createKeysAndCertificate');
    expect(calls).not.toContain('createCertificateFromCsr');
  });

  it('turns AWS IoT refusing the CSR into a ValidationError naming csr, before any thing exists', async () => {
    const { api, calls } = fakeIot({
      createCertificateFromCsr: async () => {
        throw new AwsApiError('InvalidRequestException', 'CSR violates constraints', 400);
      },
    });

    const failure = await new IotDeviceIdentityProvider(api, 'policy', config)
      .provision(profile, CSR)
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ValidationError);
    expect((failure as ValidationError).issues).toEqual([
      { field: 'csr', message: expect.stringContaining('CSR violates constraints') },
    ]);
    expect(calls).toEqual(['createCertificateFromCsr']);
  });

  it('passes other failures of CreateCertificateFromCsr on as they are', async () => {
    const throttled = new AwsApiError('ThrottlingException', 'Rate exceeded', 429);
    const { api } = fakeIot({
      createCertificateFromCsr: async () => {
        throw throttled;
      },
    });

    await expect(new IotDeviceIdentityProvider(api, 'policy', config).provision(profile, CSR)).rejects.toBe(
      throttled,
    );
  });

  it('removes the certificate and the thing when attaching fails', async () => {
    const { api, calls } = fakeIot({
      attachThingPrincipal: async () => {
        throw new AwsApiError('ThrottlingException', 'Rate exceeded', 429);
      },
    });

    await expect(
      new IotDeviceIdentityProvider(api, 'policy', config).provision(profile, CSR),
    ).rejects.toThrow('Rate exceeded');
    expect(calls).toEqual(expect.arrayContaining(['updateCertificate', 'deleteCertificate', 'deleteThing']));
  });
});

describe('IotDeviceIdentityProvider.connection', () => {
  it("is the account's iot:Data-ATS endpoint on 8883 with the configured CA when no host is configured", async () => {
    const { api } = fakeIot();

    expect(await new IotDeviceIdentityProvider(api, 'policy', config).connection()).toEqual({
      mqtt: { host: 'abc-ats.iot.eu-west-1.amazonaws.com', port: 8883 },
      caCertificatePem: 'AMAZON ROOT CA 1',
    });
  });

  it('is the configured broker, without asking AWS IoT, when a host is configured', async () => {
    const { api, calls } = fakeIot();
    const local = { mqttHost: 'localhost', mqttPort: 18883, caCertificatePem: 'LOCAL CA' };

    expect(await new IotDeviceIdentityProvider(api, 'policy', local).connection()).toEqual({
      mqtt: { host: 'localhost', port: 18883 },
      caCertificatePem: 'LOCAL CA',
    });
    expect(calls).toEqual([]);
  });

  it('asks AWS IoT once per container, and again after a failed lookup', async () => {
    let answers = 0;
    const { api } = fakeIot({
      describeEndpoint: async () => {
        answers++;
        if (answers === 1) throw new AwsApiError('ThrottlingException', 'Rate exceeded', 429);
        return { endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' };
      },
    });
    const provider = new IotDeviceIdentityProvider(api, 'policy', config);

    await expect(provider.connection()).rejects.toThrow('Rate exceeded');
    await provider.connection();
    await provider.connection();

    expect(answers).toBe(2);
  });
});
