import type { DeviceMessenger } from '../ports/device-messenger';

/** DeviceMessenger that keeps what was sent, for unit tests. */
export class InMemoryDeviceMessenger implements DeviceMessenger {
  readonly sent: { readonly topic: string; readonly payload: unknown }[] = [];

  async publish(topic: string, payload: unknown): Promise<void> {
    this.sent.push({ topic, payload });
  }
}
