import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The per-client modules (`#clients/*`) read the environment when first imported, so each test
 * stubs it and imports a fresh copy. Nothing here sends a request.
 */
beforeEach(() => {
  vi.resetModules();
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ENDPOINT_URL', undefined);
  vi.stubEnv('IOT_DATA_ENDPOINT', undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

const hasTlsMarker = (stack: { identify(): string[] }) =>
  stack.identify().some((entry) => entry.startsWith('localAwsTlsMarker'));

describe('#clients/s3', () => {
  it('addresses buckets by path and marks requests as TLS when AWS_ENDPOINT_URL points at local AWS', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://localhost:4566');

    const { s3 } = await import('#clients/s3');

    expect(s3.config.forcePathStyle).toBe(true);
    expect(hasTlsMarker(s3.middlewareStack)).toBe(true);
  });

  it('uses virtual-hosted buckets and adds no TLS marker in AWS', async () => {
    const { s3 } = await import('#clients/s3');

    expect(s3.config.forcePathStyle).toBe(false);
    expect(hasTlsMarker(s3.middlewareStack)).toBe(false);
  });

  it('computes request checksums only where an operation requires one', async () => {
    const { s3 } = await import('#clients/s3');

    await expect(s3.config.requestChecksumCalculation()).resolves.toBe('WHEN_REQUIRED');
  });
});

describe('#clients/iot-data-plane', () => {
  it('uses IOT_DATA_ENDPOINT when it is set, without asking AWS IoT', async () => {
    vi.stubEnv('IOT_DATA_ENDPOINT', 'abc-ats.iot.eu-west-1.amazonaws.com');
    const { iot } = await import('#clients/iot');
    const send = vi.spyOn(iot, 'send');
    const { iotDataPlane } = await import('#clients/iot-data-plane');

    const client = await iotDataPlane();

    expect(await client.config.endpoint?.()).toMatchObject({
      protocol: 'https:',
      hostname: 'abc-ats.iot.eu-west-1.amazonaws.com',
    });
    expect(send).not.toHaveBeenCalled();
  });

  it("uses local AWS's endpoint, not the one DescribeEndpoint names, when AWS_ENDPOINT_URL is set", async () => {
    vi.stubEnv('AWS_ENDPOINT_URL', 'http://localhost:4566');
    const { iot } = await import('#clients/iot');
    const send = vi.spyOn(iot, 'send');
    const { iotDataPlane } = await import('#clients/iot-data-plane');

    const client = await iotDataPlane();

    // No endpoint of its own: the SDK sends to AWS_ENDPOINT_URL, as every other client does.
    expect(client.config.endpoint).toBeUndefined();
    expect(send).not.toHaveBeenCalled();
  });

  it('asks AWS IoT for the iot:Data-ATS endpoint once and reuses the client', async () => {
    const { iot } = await import('#clients/iot');
    const send = vi
      .spyOn(iot, 'send')
      .mockImplementation(async () => ({ endpointAddress: 'xyz-ats.iot.eu-west-1.amazonaws.com' }));
    const { iotDataPlane } = await import('#clients/iot-data-plane');

    const first = await iotDataPlane();
    const second = await iotDataPlane();

    expect(second).toBe(first);
    expect(send).toHaveBeenCalledTimes(1);
    const command = send.mock.calls[0]?.[0];
    expect(command?.constructor.name).toBe('DescribeEndpointCommand');
    expect(command?.input).toEqual({ endpointType: 'iot:Data-ATS' });
    expect(await first.config.endpoint?.()).toMatchObject({
      hostname: 'xyz-ats.iot.eu-west-1.amazonaws.com',
    });
  });

  it('tries the lookup again on the next call after one fails', async () => {
    const { iot } = await import('#clients/iot');
    const send = vi
      .spyOn(iot, 'send')
      .mockImplementationOnce(async () => {
        throw new Error('throttled');
      })
      .mockImplementationOnce(async () => ({ endpointAddress: 'xyz-ats.iot.eu-west-1.amazonaws.com' }));
    const { iotDataPlane } = await import('#clients/iot-data-plane');

    await expect(iotDataPlane()).rejects.toThrow('throttled');
    const client = await iotDataPlane();

    expect(send).toHaveBeenCalledTimes(2);
    expect(await client.config.endpoint?.()).toMatchObject({
      hostname: 'xyz-ats.iot.eu-west-1.amazonaws.com',
    });
  });

  it('fails when AWS IoT names no data endpoint', async () => {
    const { iot } = await import('#clients/iot');
    vi.spyOn(iot, 'send').mockImplementation(async () => ({}));
    const { iotDataPlane } = await import('#clients/iot-data-plane');

    await expect(iotDataPlane()).rejects.toThrow('AWS IoT returned no data endpoint');
  });
});

describe('env-credentials (the credential provider Lambda bundles use)', () => {
  it("hands out the role's credentials from the environment, as Lambda sets them", async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'ASIAEXAMPLE');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
    vi.stubEnv('AWS_SESSION_TOKEN', 'token');
    const { defaultProvider } = await import('../../functions/shared/clients/env-credentials');

    const credentials = await defaultProvider()();

    expect(credentials).toMatchObject({
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret',
      sessionToken: 'token',
    });
  });

  it('fails, rather than looking further, when the environment holds no credentials', async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', undefined);
    const { defaultProvider } = await import('../../functions/shared/clients/env-credentials');

    await expect(defaultProvider()()).rejects.toThrow('Unable to find environment variable credentials');
  });
});
