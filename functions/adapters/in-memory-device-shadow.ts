import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { DeviceShadow } from '../ports/device-shadow';

/** DeviceShadow for unit tests: remembers each device's desired policy and every write, in order. */
export class InMemoryDeviceShadow implements DeviceShadow {
  readonly writes: { readonly deviceId: string; readonly policy: BandwidthPolicy | undefined }[] = [];
  readonly #desired = new Map<string, BandwidthPolicy>();
  /** Device ids whose next writes fail, as a throttled or unreachable data plane would. */
  readonly failing = new Set<string>();

  async setDesiredBandwidthPolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<void> {
    if (this.failing.has(deviceId)) throw new Error(`shadow update of ${deviceId} failed`);
    this.writes.push({ deviceId, policy });
    if (policy) this.#desired.set(deviceId, policy);
    else this.#desired.delete(deviceId);
  }

  desired(deviceId: string): BandwidthPolicy | undefined {
    return this.#desired.get(deviceId);
  }
}
