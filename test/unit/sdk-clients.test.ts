import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

/**
 * The per-client modules (`#clients/*`) and the modules Lambda bundles take in place of parts of
 * the SDK (lib/edgeops-function.ts). Each test imports fresh copies. Nothing here sends a
 * request; test/unit/aws-api.test.ts has the clients' requests.
 */
beforeEach(() => {
  vi.resetModules();
  vi.stubEnv('AWS_REGION', 'eu-west-1');
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('#clients/*', () => {
  it('make their clients without a region, credentials or a request (at import, on cold start)', async () => {
    vi.stubEnv('AWS_REGION', undefined);
    const fetch = vi.fn();
    vi.stubGlobal('fetch', fetch);

    const modules = await Promise.all([
      import('#clients/s3'),
      import('#clients/iot'),
      import('#clients/iot-data-plane'),
      import('#clients/lambda'),
      import('#clients/sfn'),
      import('#clients/kms'),
    ]);

    expect(modules.map((m) => Object.keys(m))).toEqual([
      ['s3'],
      ['iot'],
      ['iotData'],
      ['lambda'],
      ['sfn'],
      ['kms'],
    ]);
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe('no-event-streams (what Lambda bundles load for @smithy/core/event-streams)', () => {
  it('fails an event-stream operation, saying why', async () => {
    const { EventStreamSerde, eventStreamSerdeProvider } = await import(
      '../../functions/shared/clients/no-event-streams'
    );

    expect(() => eventStreamSerdeProvider()).toThrow(
      'AWS event streams are not bundled into EdgeOps Lambdas',
    );
    expect(() => new EventStreamSerde()).toThrow('AWS event streams are not bundled');
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
