import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { OperatorApiClient } from '../../operator-client/operator-api-client';
import { FleetSimulator } from '../../simulator/fleet-simulator';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

/**
 * A fake `POST /devices` on 127.0.0.1 that answers slowly, so registrations overlap, and lets a
 * test decide each attempt's fate. It counts how many registrations are in flight at once.
 */
async function fakeRegistry(fate: (deviceId: string, attempt: number) => 'ok' | 'lost' | 503) {
  const attempts = new Map<string, number>();
  const registered = new Set<string>();
  let inFlight = 0;
  let maxInFlight = 0;
  const send = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server: Server = createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      if (req.method === 'GET') {
        const deviceId = decodeURIComponent(req.url?.split('/').at(-1) ?? '');
        return registered.has(deviceId)
          ? send(res, 200, { deviceId, certificateId: `cert-${deviceId}` })
          : send(res, 404, {});
      }
      const { deviceId } = JSON.parse(text) as { deviceId: string };
      const attempt = (attempts.get(deviceId) ?? 0) + 1;
      attempts.set(deviceId, attempt);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      setTimeout(() => {
        inFlight--;
        if (registered.has(deviceId)) return send(res, 409, { message: `Device ${deviceId} already exists` });
        const outcome = fate(deviceId, attempt);
        if (outcome === 503) return send(res, 503, { message: 'Service Unavailable' });
        registered.add(deviceId);
        if (outcome === 'lost') return send(res, 504, { message: 'Endpoint request timed out' });
        send(res, 201, {
          device: { deviceId, hardwareType: 'rpi4', site: 'plant-a', region: 'eu-west' },
          credentials: { certificateId: `cert-${deviceId}`, certificatePem: 'PEM', privateKey: 'KEY' },
          mqtt: { endpoint: 'localhost', clientId: deviceId },
        });
      }, 15);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    api: new OperatorApiClient(`http://127.0.0.1:${port}/`, 'token'),
    attempts,
    maxInFlight: () => maxInFlight,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const NO_WAIT = { baseDelayMs: 1, maxDelayMs: 5 };

describe('FleetSimulator registration', () => {
  let cleanup: (() => Promise<void>)[] = [];

  afterEach(async () => {
    for (const step of cleanup.reverse()) await step();
    cleanup = [];
  });

  async function simulate(
    fate: Parameters<typeof fakeRegistry>[0],
    options: { size: number; log?: (line: string) => void },
  ) {
    const registry = await fakeRegistry(fate);
    const core = new InMemoryIotCore();
    const fleet = new FleetSimulator({
      size: options.size,
      api: registry.api,
      connectorFor: (deviceId) => core.connector(deviceId),
      concurrency: 12,
      registration: { retry: NO_WAIT },
      ...(options.log ? { log: options.log } : {}),
    });
    cleanup.push(registry.close, () => fleet.stop());
    return { registry, fleet };
  }

  it('registers a whole fleet through an API that fails every first attempt, 4 at a time', async () => {
    const { registry, fleet } = await simulate((_id, attempt) => (attempt === 1 ? 503 : 'ok'), { size: 12 });

    await fleet.start();

    expect(fleet.agents).toHaveLength(12);
    expect([...registry.attempts.values()]).toEqual(Array(12).fill(2));
    expect(registry.maxInFlight()).toBeLessThanOrEqual(4);
    expect(registry.maxInFlight()).toBeGreaterThan(1);
  });

  it('registers a replacement id, and says so, when a retry finds the device taken by its own lost attempt', async () => {
    const lines: string[] = [];
    const { fleet } = await simulate((id, attempt) => (id === 'sim-0002' && attempt === 1 ? 'lost' : 'ok'), {
      size: 3,
      log: (line) => lines.push(line),
    });

    await fleet.start();

    expect(fleet.agents.map((a) => a.deviceId).sort()).toEqual(['sim-0001', 'sim-0002-r2', 'sim-0003']);
    expect(lines.join('\n')).toMatch(/sim-0002: .*private key.*Registering it as sim-0002-r2/);
  });

  it('fails start-up naming the device once its attempts run out', async () => {
    const { fleet } = await simulate((id) => (id === 'sim-0003' ? 503 : 'ok'), { size: 4 });

    await expect(fleet.start()).rejects.toThrow(
      /Registering device sim-0003 failed after 6 attempts; last: 503/,
    );
  });

  it('stops registering when its signal aborts', async () => {
    const controller = new AbortController();
    const { registry, fleet } = await simulate(
      () => {
        controller.abort(new Error('Ctrl-C'));
        return 'ok';
      },
      { size: 12 },
    );

    await expect(fleet.start({ signal: controller.signal })).rejects.toThrow('Ctrl-C');
    const asked = [...registry.attempts.values()].length;
    await new Promise((r) => setTimeout(r, 50));

    expect(asked).toBeLessThanOrEqual(4);
    expect([...registry.attempts.values()].length).toBe(asked);
  });
});
