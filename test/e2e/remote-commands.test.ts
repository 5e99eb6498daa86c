import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it, type TestContext } from 'vitest';
import type { DeviceInventoryV1 } from '../../contract/device-commands';
import { fileLogSource } from '../../device/commands/log-collection';
import { DeviceAgent } from '../../device/device-agent';
import type { CommandView } from '../../functions/device-commands/schemas';
import type { Registration } from '../../operator-client/operator-api-client';
import { api, context, eventually, profile } from './support';

/** Local S3 counts a request as TLS (the logs bucket allows no other) only when told so. */
const OVER_TLS = { headers: { 'x-forwarded-proto': 'https' } };

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir() {
  const dir = await mkdtemp(join(tmpdir(), 'edgeops-e2e-commands-'));
  dirs.push(dir);
  return dir;
}

/** What each agent logged, by device: printed when a command does not end as expected. */
const agentLogs = new Map<string, string[]>();

/**
 * An agent that takes remote commands; its logs are `logFile` when given, else its own lines. It
 * stops when its own test ends: the tests run concurrently, so a shared afterEach would stop the
 * agents of tests still running.
 */
async function commandAgent(
  onTestFinished: TestContext['onTestFinished'],
  registration: Registration,
  logFile?: string,
) {
  const { mqtt, endpoint } = context();
  const dir = await tempDir();
  const lines: string[] = [];
  agentLogs.set(registration.device.deviceId, lines);
  const agent = new DeviceAgent({
    identity: { deviceId: registration.device.deviceId, ...registration.credentials },
    broker: mqtt,
    firmwareVersion: '1.0.0',
    // Local AWS, busy with several e2e runs at once, can take tens of seconds to answer.
    requestTimeoutMs: 60_000,
    log: (line) => lines.push(line),
    commands: {
      stateDir: join(dir, 'commands'),
      fsync: false,
      allowPlainHttp: true,
      agentVersion: '0.1.0',
      endpoints: [endpoint],
      ...(logFile ? { logs: fileLogSource([logFile]) } : {}),
    },
  });
  onTestFinished(() => agent.stop());
  return agent;
}

const register = () => api().registerDevice(profile());

const send = (deviceId: string, body: unknown, role: 'operator' | 'viewer' = 'operator') =>
  api(role).request<CommandView & { message?: string; errors?: { field: string }[] }>(
    'POST',
    `devices/${deviceId}/commands`,
    body,
  );

async function sent(deviceId: string, body: unknown): Promise<CommandView> {
  const response = await send(deviceId, body);
  expect(response.status, JSON.stringify(response.body)).toBe(201);
  return response.body;
}

const getCommand = async (deviceId: string, commandId: string) =>
  (await api('viewer').request<CommandView>('GET', `devices/${deviceId}/commands/${commandId}`)).body;

async function untilStatus(command: CommandView, statuses: readonly string[], timeoutMs = 90_000) {
  let last: CommandView | undefined;
  try {
    return await eventually(async () => {
      last = await getCommand(command.deviceId, command.commandId);
      return statuses.includes(last.status) ? last : undefined;
    }, timeoutMs);
  } catch (error) {
    const log = (agentLogs.get(command.deviceId) ?? []).slice(-30).join('\n');
    throw new Error(`${(error as Error).message}; last ${JSON.stringify(last)}; agent log:\n${log}`);
  }
}

describe.concurrent('remote commands: API → AWS IoT job → agent → job execution event → fleet table', () => {
  it('expires a command sent to a device that stays offline past its expiry', async ({ onTestFinished }) => {
    const registration = await register();
    const { deviceId } = registration.device;

    const command = await sent(deviceId, { command: 'diagnostics', expiresInSeconds: 60 });

    // The expiry schedule fires at expiresAt (local AWS's scheduler ticks every 10 s).
    const expired = await untilStatus(command, ['EXPIRED', 'FAILED', 'CANCELED', 'SUCCEEDED'], 120_000);
    expect(expired.status).toBe('EXPIRED');
    expect(expired.statusReason).toContain('expired');
    expect(expired.result).toEqual({ reason: 'expired' });

    // The device returns: it gets nothing to run, and the command stays EXPIRED.
    const agent = await commandAgent(onTestFinished, registration);
    await agent.start();
    await new Promise((r) => setTimeout(r, 3000));
    expect((await getCommand(deviceId, command.commandId)).status).toBe('EXPIRED');
  }, 240_000);

  it('runs a command sent while the device was offline once it returns', async ({ onTestFinished }) => {
    const registration = await register();
    const { deviceId } = registration.device;

    const command = await sent(deviceId, { command: 'inventory', expiresInSeconds: 600 });
    await new Promise((r) => setTimeout(r, 2000));
    expect((await getCommand(deviceId, command.commandId)).status).toBe('QUEUED');

    const agent = await commandAgent(onTestFinished, registration);
    await agent.start();

    const done = await untilStatus(command, ['SUCCEEDED', 'FAILED', 'EXPIRED', 'TIMED_OUT']);
    expect(done.status).toBe('SUCCEEDED');
  }, 180_000);

  it('reboots the device and reports success once it is back, with the audit of who asked', async ({
    onTestFinished,
  }) => {
    const registration = await register();
    const { deviceId } = registration.device;
    const agent = await commandAgent(onTestFinished, registration);
    await agent.start();

    const command = await sent(deviceId, { command: 'reboot', parameters: { reason: 'e2e' } });

    const done = await untilStatus(command, ['SUCCEEDED', 'FAILED', 'TIMED_OUT']);
    expect(done.status).toBe('SUCCEEDED');
    expect(Date.parse(done.result?.rebootedAt ?? '')).toBeGreaterThanOrEqual(
      Date.parse(done.audit.requestedAt),
    );
    expect(done.audit).toMatchObject({ requestedBy: expect.stringContaining('operator') });
    expect(done.audit.requestId).toMatch(/\S/);
    expect(done.audit.completedAt).not.toBeNull();
    expect(done.parameters).toEqual({ reason: 'e2e' });
  }, 180_000);

  it('uploads the newest logs, bounded and gzip’d, readable through a short-lived URL', async ({
    onTestFinished,
  }) => {
    const registration = await register();
    const { deviceId } = registration.device;
    const logFile = join(await tempDir(), 'agent.log');
    const lines = Array.from({ length: 40_000 }, (_, i) => `${i} ${randomBytes(24).toString('hex')}`);
    await writeFile(logFile, `${lines.join('\n')}\n`);
    const agent = await commandAgent(onTestFinished, registration, logFile);
    await agent.start();
    const maxBytes = 64 * 1024;

    const command = await sent(deviceId, { command: 'upload-logs', parameters: { maxBytes } });

    const done = await untilStatus(command, ['SUCCEEDED', 'FAILED', 'TIMED_OUT']);
    expect(done.status, JSON.stringify(done.result)).toBe('SUCCEEDED');
    expect(done.result).toMatchObject({
      objectKey: `device-logs/${deviceId}/${command.commandId}.log.gz`,
      truncated: 'true',
    });
    expect(done.logDownload?.expiresInSeconds).toBe(300);
    const download = await fetch(done.logDownload?.url ?? '', OVER_TLS);
    const gz = Buffer.from(await download.arrayBuffer());
    expect(download.status, gz.subarray(0, 500).toString('utf8')).toBe(200);
    expect(gz.length).toBeLessThanOrEqual(maxBytes);
    expect(gz.length).toBe(Number(done.result?.bytes));
    const text = gunzipSync(gz).toString('utf8').trimEnd().split('\n');
    expect(text.at(-1)).toBe(lines.at(-1));
    expect(text[0]).toMatch(/^\[edgeops-agent: \d+ older bytes left out/);
  }, 180_000);

  it('runs diagnostics: broker and endpoint reachable, disk space and clock skew as figures', async ({
    onTestFinished,
  }) => {
    const registration = await register();
    const agent = await commandAgent(onTestFinished, registration);
    await agent.start();

    const command = await sent(registration.device.deviceId, { command: 'diagnostics' });

    const done = await untilStatus(command, ['SUCCEEDED', 'FAILED', 'TIMED_OUT']);
    expect(done.status).toBe('SUCCEEDED');
    const result = done.result ?? {};
    expect(result.brokerReachable).toBe('true');
    expect(result.endpoint1Reachable).toBe('true');
    expect(Number(result.diskFreeBytes)).toBeGreaterThan(0);
    expect(Math.abs(Number(result.clockSkewMs))).toBeLessThan(5_000);
  }, 180_000);

  it('re-reports the inventory onto the device item', async ({ onTestFinished }) => {
    const registration = await register();
    const { deviceId } = registration.device;
    const agent = await commandAgent(onTestFinished, registration);
    await agent.start();

    const command = await sent(deviceId, { command: 'inventory' });

    expect((await untilStatus(command, ['SUCCEEDED', 'FAILED', 'TIMED_OUT'])).status).toBe('SUCCEEDED');
    const device = await eventually(async () => {
      const { body } = await api('viewer').request<{ inventory: DeviceInventoryV1 | null }>(
        'GET',
        `devices/${deviceId}`,
      );
      return body.inventory?.commandId === command.commandId ? body : undefined;
    });
    expect(device.inventory).toMatchObject({
      agentVersion: '0.1.0',
      firmwareVersion: '1.0.0',
      os: { platform: process.platform },
      capabilities: expect.arrayContaining(['commands:reboot', 'commands:inventory']),
    });
    expect(device.inventory?.hardware.cpuCount).toBeGreaterThan(0);
  }, 180_000);

  it('refuses a bad command body with 400 naming the field, and creates nothing', async () => {
    const { deviceId } = (await register()).device;

    const unknown = await send(deviceId, { command: 'format-disk' });
    const tooBig = await send(deviceId, { command: 'upload-logs', parameters: { maxBytes: 50_000_000 } });
    const asViewer = await send(deviceId, { command: 'reboot' }, 'viewer');

    expect(unknown.status).toBe(400);
    expect(unknown.body.errors?.map((e) => e.field)).toContain('command');
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.errors?.map((e) => e.field)).toContain('parameters.maxBytes');
    expect(asViewer.status).toBe(403);
    const listed = await api('viewer').request<{ items: unknown[] }>('GET', `devices/${deviceId}/commands`);
    expect(listed.status).toBe(200);
    expect(listed.body.items).toEqual([]);
    expect((await send('no-such-device', { command: 'reboot' })).status).toBe(404);
  }, 180_000);

  it('lists a device’s commands newest first, a page at a time', async () => {
    const { deviceId } = (await register()).device;
    const first = await sent(deviceId, { command: 'inventory' });
    const second = await sent(deviceId, { command: 'diagnostics' });

    const page1 = await api('viewer').request<{ items: CommandView[]; nextCursor: string | null }>(
      'GET',
      `devices/${deviceId}/commands?limit=1`,
    );
    const page2 = await api('viewer').request<{ items: CommandView[]; nextCursor: string | null }>(
      'GET',
      `devices/${deviceId}/commands?limit=1&cursor=${encodeURIComponent(page1.body.nextCursor ?? '')}`,
    );

    expect([...page1.body.items, ...page2.body.items].map((c) => c.commandId)).toEqual([
      second.commandId,
      first.commandId,
    ]);
  });
});
