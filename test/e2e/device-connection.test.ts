import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceAgent } from '../../device/device-agent';
import type { Registration } from '../../operator-client/operator-api-client';
import { agentFor, api, context, eventually, profile } from './support';

const agents: DeviceAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

async function connectedAgent(firmwareVersion = '1.0.0') {
  const registration = await api().registerDevice(profile());
  const agent = agentFor(registration, firmwareVersion);
  agents.push(agent);
  await agent.start();
  await untilDevice(
    registration,
    (d) => d.firmwareVersion === firmwareVersion && d.connection.state === 'connected',
  );
  return { registration, agent };
}

const untilDevice = (
  registration: Registration,
  predicate: (device: Awaited<ReturnType<ReturnType<typeof api>['getDevice']>>) => boolean,
) =>
  eventually(async () => {
    const device = await api('viewer').getDevice(registration.device.deviceId);
    return predicate(device) ? device : undefined;
  });

describe('device over MQTT → shadow → rule → SQS → Lambda → DynamoDB', () => {
  it('shows the firmware a device reports, its connection and when it was last seen', async () => {
    const registration = await api().registerDevice(profile());
    const agent = agentFor(registration, '1.4.2');
    agents.push(agent);

    await agent.start();

    const device = await untilDevice(
      registration,
      (d) => d.firmwareVersion === '1.4.2' && d.connection.state === 'connected',
    );
    expect(device.lastSeenAt).not.toBeNull();
  });

  it('follows a firmware change the device reports later', async () => {
    const { registration, agent } = await connectedAgent('1.0.0');

    await agent.switchFirmware('1.1.0');

    await untilDevice(registration, (d) => d.firmwareVersion === '1.1.0');
  });

  it('shows the device disconnected after it leaves', async () => {
    const { registration, agent } = await connectedAgent();

    await agent.stop();

    await untilDevice(registration, (d) => d.connection.state === 'disconnected');
  });

  it('ignores a malformed firmware report and keeps the last good version', async () => {
    const { registration, agent } = await connectedAgent('2.0.0');

    await agent.report({ firmwareVersion: 42 });
    await agent.report({ firmwareVersion: '2.0.1 beta; DROP TABLE' });
    await new Promise((r) => setTimeout(r, 1500));

    expect((await api().getDevice(registration.device.deviceId)).firmwareVersion).toBe('2.0.0');
    await agent.switchFirmware('2.0.2');
    await untilDevice(registration, (d) => d.firmwareVersion === '2.0.2');
  });
});

describe('device policy, scoped by thing name', () => {
  it("refuses a device publishing to another device's shadow, and the other record stays as it was", async () => {
    const victim = await connectedAgent('1.0.0');
    const intruder = await connectedAgent('1.0.0');
    const foreignTopic = `$aws/things/${victim.registration.device.deviceId}/shadow/update`;

    const publish = intruder.agent.mqttClient.publishAsync(
      foreignTopic,
      JSON.stringify({ state: { reported: { firmwareVersion: '6.6.6' } } }),
      { qos: 1 },
    );

    await expect(publish).rejects.toThrow(/Not authorized/);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await api().getDevice(victim.registration.device.deviceId)).firmwareVersion).toBe('1.0.0');
  });

  it("refuses a subscription to another device's topics", async () => {
    const victim = await connectedAgent();
    const intruder = await connectedAgent();

    const subscription = intruder.agent.mqttClient.subscribeAsync(
      `$aws/things/${victim.registration.device.deviceId}/shadow/#`,
      { qos: 1 },
    );

    await expect(subscription).rejects.toThrow(/Not authorized/);
  });

  it('refuses a connection whose client id is not the thing name', async () => {
    const registration = await api().registerDevice(profile());
    const { mqtt: broker } = context();

    const attempt = mqtt.connectAsync({
      protocol: 'mqtts',
      host: broker.host,
      port: broker.port,
      ca: broker.ca,
      cert: registration.credentials.certificatePem,
      key: registration.credentials.privateKey,
      clientId: `${registration.device.deviceId}-impostor`,
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });

    await expect(attempt).rejects.toThrow();
  });
});
