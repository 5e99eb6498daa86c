import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { DeviceAgent } from '../../device/device-agent';
import { OperatorApiClient, type Registration } from '../../operator-client/operator-api-client';

export const context = () => inject('edgeops');

export const api = (role: 'viewer' | 'operator' | 'admin' | 'none' | 'anonymous' = 'operator') =>
  new OperatorApiClient(context().apiUrl, role === 'anonymous' ? undefined : context().tokens[role]);

/** A device id no other test uses. */
export const uniqueId = (prefix = 'dev') => `${prefix}-${randomBytes(4).toString('hex')}`;

export const profile = (deviceId = uniqueId(), site = 'plant-a') => ({
  deviceId,
  hardwareType: 'rpi4',
  site,
  region: 'eu-west',
});

export function agentFor(registration: Registration, firmwareVersion = '1.0.0') {
  const { mqtt } = context();
  return new DeviceAgent({
    identity: { deviceId: registration.device.deviceId, ...registration.credentials },
    broker: mqtt,
    firmwareVersion,
  });
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`Condition not met within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
}
