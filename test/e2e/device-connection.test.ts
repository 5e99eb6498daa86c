import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceAgent } from '../../agent/device-agent';
import { agentFor, api, eventually, profile } from './support';

const agents: DeviceAgent[] = [];
afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
});

describe('device over MQTT → shadow → rule → Lambda → DynamoDB', () => {
  it('shows the firmware a device reports, its connection and when it was last seen', async () => {
    const registration = await api().registerDevice(profile());
    const agent = agentFor(registration, '1.4.2');
    agents.push(agent);

    await agent.start();

    const device = await eventually(async () => {
      const d = await api('viewer').getDevice(registration.device.deviceId);
      return d.firmwareVersion === '1.4.2' && d.connection.state === 'connected' ? d : undefined;
    });
    expect(device.lastSeenAt).not.toBeNull();
  });
});
