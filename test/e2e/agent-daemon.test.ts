/**
 * `edgeops-agent` as a device runs it: a registered device's certificate, key and CA in files, a
 * config file, the daemon as a child process connecting to the deployed stack's broker over
 * mutual TLS, a stand-in for systemd's notify socket, and SIGTERM at the end.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DaemonProcess,
  daemonConfig,
  type NotifySocket,
  notifySocket,
  processesMentioning,
  startDaemon,
  writeConfig,
  writeIdentity,
} from '../support/agent-daemon';
import { api, context, eventually, profile } from './support';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Device = Awaited<ReturnType<ReturnType<typeof api>['getDevice']>>;

/** The device as the registry shows it: firmware from its shadow reports, connection from lifecycle events. */
const untilDevice = (deviceId: string, predicate: (device: Device) => boolean) =>
  eventually(async () => {
    const device = await api('viewer').getDevice(deviceId);
    return predicate(device) ? device : undefined;
  }, 30_000);

describe('edgeops-agent daemon on the deployed stack', () => {
  it('connects from its config file, reports its firmware through its shadow, and leaves nothing running after SIGTERM', async () => {
    const registration = await api().registerDevice(profile());
    const { deviceId } = registration.device;
    const { mqtt } = context();
    const dir = await mkdtemp(join(tmpdir(), 'agent-daemon-e2e-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const identity = await writeIdentity(dir, { ...registration.credentials, ca: mqtt.ca });
    const trustRoot = join(dir, 'trust-root.json');
    await writeFile(trustRoot, JSON.stringify(registration.trustRoot));
    const configPath = await writeConfig(
      join(dir, 'agent.json'),
      daemonConfig({ ...identity, trustRoot }, join(dir, 'state'), {
        deviceId,
        hardwareType: registration.device.hardwareType,
        factoryVersion: '3.2.1',
        mqtt: { host: mqtt.host, port: mqtt.port },
      }),
    );
    const socket: NotifySocket = await notifySocket(join(dir, 'notify.sock'));
    cleanups.push(() => socket.close());

    const agent: DaemonProcess = startDaemon(['--config', configPath], {
      env: { NOTIFY_SOCKET: socket.path },
    });
    cleanups.push(async () => {
      agent.child.kill('SIGKILL');
      await agent.exited;
    });

    await agent.line(
      new RegExp(`^connected to ${mqtt.host}:${mqtt.port} as ${deviceId}, running 3\\.2\\.1 \\(slot A\\)$`),
      60_000,
    );
    // Its shadow report went all the way: shadow → topic rule → SQS → Lambda → the registry.
    await untilDevice(deviceId, (d) => d.firmwareVersion === '3.2.1' && d.connection.state === 'connected');
    await socket.until('READY=1');
    await eventually(async () =>
      socket.messages.find((m) =>
        m.message.startsWith(`STATUS=connected to ${mqtt.host}:${mqtt.port}, running 3.2.1`),
      ),
    );

    agent.child.kill('SIGTERM');

    expect(await agent.exited).toEqual({ code: 0, signal: null });
    expect(agent.stdout).toContain('stopping (SIGTERM)');
    expect(agent.stdout.at(-1)).toBe('stopped');
    await socket.until('STOPPING=1');
    expect(await processesMentioning(configPath)).toEqual([]);
    // A clean MQTT disconnect: the registry sees the device leave.
    await untilDevice(deviceId, (d) => d.connection.state === 'disconnected');
  });
});
