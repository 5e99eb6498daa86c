import { DescribeThingCommand, IoTClient, ResourceNotFoundException } from '@aws-sdk/client-iot';
import { beforeAll, describe, expect, it } from 'vitest';
import { OperatorApiClient } from '../../operator-client/operator-api-client';
import { localClientConfig } from '../../scripts/local-aws/ministack';
import { api, context, profile, uniqueId } from './support';

const iot = () => new IoTClient(localClientConfig(context()));

/** Asserts that neither the fleet table nor the IoT registry holds the device. */
async function expectNothingWritten(deviceId: string) {
  expect((await api('admin').request('GET', `devices/${deviceId}`)).status).toBe(404);
  await expect(iot().send(new DescribeThingCommand({ thingName: deviceId }))).rejects.toBeInstanceOf(
    ResourceNotFoundException,
  );
}

describe('POST /devices', () => {
  it('registers a thing with a certificate and keys returned once, and a record', async () => {
    const request = profile();

    const { status, body } = await api('operator').request<Record<string, never>>('POST', 'devices', request);

    expect(status).toBe(201);
    expect(body).toMatchObject({
      device: { ...request, firmwareVersion: null, connection: { state: 'unknown' } },
      credentials: {
        certificatePem: expect.stringContaining('BEGIN CERTIFICATE'),
        privateKey: expect.stringContaining('PRIVATE KEY'),
      },
      mqtt: { clientId: request.deviceId },
    });
    const thing = await iot().send(new DescribeThingCommand({ thingName: request.deviceId }));
    expect(thing.attributes).toEqual({ hardwareType: 'rpi4', site: 'plant-a', region: 'eu-west' });
    const stored = await api('viewer').getDevice(request.deviceId);
    expect(stored).not.toHaveProperty('privateKey');
  });

  it('answers 409 for a duplicate id and keeps the first registration', async () => {
    const first = profile();
    await api().registerDevice(first);

    const { status, body } = await api().request('POST', 'devices', { ...first, site: 'plant-z' });

    expect(status).toBe(409);
    expect(body).toMatchObject({ message: expect.stringContaining(first.deviceId) });
    expect((await api().getDevice(first.deviceId)).site).toBe('plant-a');
  });

  it.each([
    ['a missing field', (p: ReturnType<typeof profile>) => ({ ...p, site: undefined }), 'site'],
    [
      'an invalid device id',
      (p: ReturnType<typeof profile>) => ({ ...p, deviceId: `${p.deviceId}/x` }),
      'deviceId',
    ],
    [
      'a label with spaces',
      (p: ReturnType<typeof profile>) => ({ ...p, hardwareType: 'rpi 4' }),
      'hardwareType',
    ],
    ['an unknown field', (p: ReturnType<typeof profile>) => ({ ...p, firmware: '1.0' }), '(root)'],
  ])('answers 400 naming the field for %s, and writes nothing', async (_case, mutate, field) => {
    const request = profile();

    const { status, body } = await api().request<{ message: string; errors: { field: string }[] }>(
      'POST',
      'devices',
      mutate(request),
    );

    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain(field);
    await expectNothingWritten(request.deviceId);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const { status, body } = await api().request<{ message: string }>('POST', 'devices', '{"deviceId":');
    expect(status).toBe(400);
    expect(body.message).toMatch(/not valid JSON/);
  });
});

describe('operator API authorization', () => {
  it('answers 401 without a token, and 401 for a forged one', async () => {
    expect((await api('anonymous').request('GET', 'devices')).status).toBe(401);
    const [header, payload] = context().tokens.viewer.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not-a-signature').toString('base64url')}`;
    const { status } = await new OperatorApiClient(context().apiUrl, forged).request('GET', 'devices');
    expect(status).toBe(401);
  });

  it('answers 403 to a viewer registering a device, and writes nothing', async () => {
    const request = profile();

    const { status, body } = await api('viewer').request<{ message: string }>('POST', 'devices', request);

    expect(status).toBe(403);
    expect(body.message).toMatch(/operator/);
    await expectNothingWritten(request.deviceId);
  });

  it('answers 403 to a signed-in user who holds no role', async () => {
    expect((await api('none').request('GET', 'devices')).status).toBe(403);
  });
});

describe('GET /devices/{deviceId}', () => {
  it('answers 404 for an unknown device', async () => {
    const { status, body } = await api('viewer').request('GET', `devices/${uniqueId('ghost')}`);
    expect(status).toBe(404);
    expect(body).toMatchObject({ message: expect.stringMatching(/not found/) });
  });
});

describe('GET /devices', () => {
  const site = uniqueId('site');
  const ids: string[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 5; i++) {
      const registration = await api().registerDevice(profile(uniqueId(), site));
      ids.push(registration.device.deviceId);
    }
    await api().registerDevice(profile(uniqueId(), uniqueId('other-site')));
  });

  it('lists a site page by page, every device exactly once', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await api('viewer').listDevices({ site, limit: 2, ...(cursor ? { cursor } : {}) });
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((d) => d.deviceId));
      cursor = page.nextCursor ?? undefined;
      pages++;
    } while (cursor);

    expect(seen.sort()).toEqual([...ids].sort());
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('lists devices across sites without a filter', async () => {
    const seen = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await api('viewer').listDevices({ limit: 100, ...(cursor ? { cursor } : {}) });
      for (const d of page.items) seen.add(d.deviceId);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    for (const id of ids) expect(seen.has(id)).toBe(true);
  });

  it.each([
    ['limit=0', 'limit'],
    ['limit=abc', 'limit'],
    ['limit=101', 'limit'],
    ['cursor=bm90LWEtY3Vyc29y', 'cursor'],
    ['color=red', '(root)'],
  ])('answers 400 for %s', async (query, field) => {
    const { status, body } = await api('viewer').request<{ errors: { field: string }[] }>(
      'GET',
      `devices?${query}`,
    );
    expect(status).toBe(400);
    expect(body.errors.map((e) => e.field)).toContain(field);
  });
});
