import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiError,
  describeRetry,
  OperatorApiClient,
  RegistrationFailedError,
  RegistrationLostError,
} from '../../operator-client/operator-api-client';
import { backoffDelay, isRetryableStatus, type RetryPolicy } from '../../operator-client/retry-policy';

/** A fake operator API on 127.0.0.1: `answer` decides each request, in arrival order. */
interface FakeApi {
  readonly client: OperatorApiClient;
  readonly requests: { method: string; path: string }[];
  close(): Promise<void>;
}

type Answer = (req: IncomingMessage, res: ServerResponse, n: number) => void;

let servers: Server[] = [];

afterEach(async () => {
  await Promise.all(
    servers.map(
      (server) =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(resolve);
        }),
    ),
  );
  servers = [];
});

async function fakeApi(answer: Answer): Promise<FakeApi> {
  const requests: { method: string; path: string }[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push({ method: req.method ?? '', path: req.url ?? '' });
      answer(req, res, requests.length);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    client: new OperatorApiClient(`http://127.0.0.1:${port}/v1/`, 'token'),
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const send = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const PROFILE = { deviceId: 'sim-0007', hardwareType: 'rpi4', site: 'plant-a', region: 'eu-west' };

const registration = (deviceId = PROFILE.deviceId) => ({
  device: { deviceId, hardwareType: 'rpi4', site: 'plant-a', region: 'eu-west', certificateId: 'cert-1' },
  credentials: { certificateId: 'cert-1', certificatePem: 'PEM', privateKey: 'KEY' },
  mqtt: { endpoint: 'localhost', clientId: deviceId },
});

/** No real waiting: pauses are recorded; jitter is fixed at half the ceiling. */
function instantPolicy(overrides: RetryPolicy = {}) {
  const pauses: number[] = [];
  const policy: RetryPolicy = {
    maxAttempts: 4,
    baseDelayMs: 100,
    maxDelayMs: 1_000,
    random: () => 0.5,
    sleep: async (ms) => {
      pauses.push(ms);
    },
    ...overrides,
  };
  return { policy, pauses };
}

describe('backoffDelay', () => {
  it('doubles the ceiling each attempt and stays within it (full jitter)', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 10_000 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, { ...policy, random: () => 0.999 }))).toEqual([
      99, 199, 399, 799,
    ]);
    expect(backoffDelay(3, { ...policy, random: () => 0 })).toBe(0);
  });

  it('never exceeds maxDelayMs', () => {
    expect(backoffDelay(30, { baseDelayMs: 500, maxDelayMs: 8_000, random: () => 0.999 })).toBeLessThan(
      8_000,
    );
  });
});

describe('isRetryableStatus', () => {
  it('retries throttling and server-side failures only', () => {
    expect([429, 500, 502, 503, 504].every(isRetryableStatus)).toBe(true);
    expect([400, 401, 403, 404, 409, 422].some(isRetryableStatus)).toBe(false);
  });
});

describe('OperatorApiClient.registerDevice with retry', () => {
  it('registers after a 502 and a 429, pausing with growing jittered backoff', async () => {
    const api = await fakeApi((_req, res, n) => {
      if (n === 1) return send(res, 502, { message: 'Internal server error' });
      if (n === 2) return send(res, 429, { message: 'Too Many Requests' });
      send(res, 201, registration());
    });
    const { policy, pauses } = instantPolicy();
    const notices: string[] = [];

    const result = await api.client.registerDevice(PROFILE, {
      retry: policy,
      onRetry: (notice) => notices.push(describeRetry(notice)),
    });

    expect(result.credentials.privateKey).toBe('KEY');
    expect(api.requests).toHaveLength(3);
    expect(pauses).toEqual([50, 100]);
    expect(notices).toEqual([
      'sim-0007: registration attempt 1 got 502 Internal server error; trying again in 0.1 s',
      'sim-0007: registration attempt 2 got 429 Too Many Requests; trying again in 0.1 s',
    ]);
  });

  it('gives up after maxAttempts with an error naming the device and the last status', async () => {
    const api = await fakeApi((_req, res) => send(res, 503, { message: 'Service Unavailable' }));
    const { policy } = instantPolicy({ maxAttempts: 3 });

    const error = await api.client.registerDevice(PROFILE, { retry: policy }).catch((e) => e);

    expect(error).toBeInstanceOf(RegistrationFailedError);
    expect(error.message).toMatch(/sim-0007 failed after 3 attempts; last: 503 Service Unavailable/);
    expect(error.status).toBe(503);
    expect(api.requests).toHaveLength(3);
  });

  it('does not retry a request the API refuses (400)', async () => {
    const api = await fakeApi((_req, res) => send(res, 400, { message: 'bad site' }));

    const error = await api.client.registerDevice(PROFILE, { retry: instantPolicy().policy }).catch((e) => e);

    expect(error).toBeInstanceOf(RegistrationFailedError);
    expect(error.message).toMatch(/sim-0007 failed after 1 attempt; last: 400 bad site/);
    expect(api.requests).toHaveLength(1);
  });

  it('treats 409 on the first attempt as a plain conflict: the id was taken before', async () => {
    const api = await fakeApi((_req, res) => send(res, 409, { message: 'Device sim-0007 already exists' }));

    const error = await api.client.registerDevice(PROFILE, { retry: instantPolicy().policy }).catch((e) => e);

    expect(error).toBeInstanceOf(ApiError);
    expect(error).not.toBeInstanceOf(RegistrationLostError);
    expect(error.status).toBe(409);
    expect(api.requests).toHaveLength(1);
  });

  it('reports a lost registration when a retry meets 409 after an attempt that timed out at the gateway', async () => {
    const api = await fakeApi((req, res, n) => {
      if (req.method === 'GET') return send(res, 200, registration().device);
      // The first attempt registered the device, but its answer never made it back.
      if (n === 1) return send(res, 504, { message: 'Endpoint request timed out' });
      send(res, 409, { message: 'Device sim-0007 already exists' });
    });

    const error = await api.client.registerDevice(PROFILE, { retry: instantPolicy().policy }).catch((e) => e);

    expect(error).toBeInstanceOf(RegistrationLostError);
    expect(error.existing).toMatchObject({ deviceId: 'sim-0007', certificateId: 'cert-1' });
    expect(error.message).toMatch(/sim-0007.*certificate cert-1.*private key/);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v1/devices',
      'POST /v1/devices',
      'GET /v1/devices/sim-0007',
    ]);
  });

  it('abandons an attempt with no answer within attemptTimeoutMs and tries again', async () => {
    const api = await fakeApi((_req, res, n) => {
      if (n === 1) return; // never answers
      send(res, 201, registration());
    });
    const { policy } = instantPolicy({ attemptTimeoutMs: 200 });

    const result = await api.client.registerDevice(PROFILE, { retry: policy });

    expect(result.device.deviceId).toBe('sim-0007');
    expect(api.requests).toHaveLength(2);
  });

  it('retries a connection the server drops without an answer', async () => {
    const api = await fakeApi((req, res, n) => {
      if (n === 1) return req.socket.destroy();
      send(res, 201, registration());
    });

    const result = await api.client.registerDevice(PROFILE, { retry: instantPolicy().policy });

    expect(result.device.deviceId).toBe('sim-0007');
    expect(api.requests).toHaveLength(2);
  });

  it('stops at once when its signal aborts during a pause', async () => {
    const api = await fakeApi((_req, res) => send(res, 503, {}));
    const controller = new AbortController();
    const { policy } = instantPolicy({
      sleep: async () => controller.abort(new Error('Ctrl-C')),
    });

    await expect(
      api.client.registerDevice(PROFILE, { retry: policy, signal: controller.signal }),
    ).rejects.toThrow('Ctrl-C');
    expect(api.requests).toHaveLength(1);
  });

  it('makes one attempt without a retry policy, as before', async () => {
    const api = await fakeApi((_req, res) => send(res, 502, {}));

    await expect(api.client.registerDevice(PROFILE)).rejects.toMatchObject({ status: 502 });
    expect(api.requests).toHaveLength(1);
  });
});
