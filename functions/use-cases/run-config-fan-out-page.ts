import { layerStamp } from '../domain/device-config';
import { DeviceNotFoundError } from '../domain/errors';
import type { ConfigFanOutMessage, ConfigFanOutQueue } from '../ports/config-fan-out-queue';
import {
  type DeliveryOutcome,
  type DeliveryPorts,
  deliverToDevice,
  makeDeliverDeviceConfig,
  readShared,
} from './deliver-device-config';

export interface FanOutPageResult {
  readonly devices: number;
  readonly outcomes: Readonly<Record<DeliveryOutcome | 'failed', number>>;
  /** What was enqueued next: the following page, this page again, or nothing (the last page). */
  readonly next: 'page' | 'again' | 'done';
}

export interface FanOutSettings {
  /** Devices per page (one message, one invocation). @default 100 */
  readonly pageSize?: number;
  /** Shadow deliveries in flight at once within the page. @default 8 */
  readonly concurrency?: number;
  /**
   * Deliveries started per second by one invocation, at most: with the mapping's concurrency it
   * bounds the fan-out's share of the account's UpdateThingShadow rate. @default 50
   */
  readonly maxPerSecond?: number;
  /** @default real sleep */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A page restarted this often in a row (layers changing all the time) goes on anyway. */
const MAX_RESTARTS = 5;

/**
 * One page of a fan-out (a fleet or site layer changed): work bounded by the page, whatever the
 * size of the fleet. A message for one device (registration) delivers to that device alone.
 * 1. Read the fleet layer and, per site met, the site layer; read one page of the devices.
 * 2. Deliver to each device (deliverToDevice: skipped when already at its revision), a few at a
 *    time and at most `maxPerSecond` started per second. A device that fails is counted and left
 *    drifting (its desired revision is recorded before its shadow is written); the next change
 *    or a repeated PUT reaches it.
 * 3. Read the layers again. If one changed during the page, enqueue this page again: a fan-out
 *    that started later may have written some of these devices before this page's older
 *    writes. Otherwise enqueue the next page, if any.
 */
export const makeRunConfigFanOutPage =
  (ports: DeliveryPorts & { readonly queue: ConfigFanOutQueue }, settings: FanOutSettings = {}) =>
  async (message: ConfigFanOutMessage): Promise<FanOutPageResult> => {
    const pageSize = settings.pageSize ?? 100;
    const concurrency = settings.concurrency ?? 8;
    const gapMs = 1000 / (settings.maxPerSecond ?? 50);
    const sleep = settings.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
    const outcomes: Record<DeliveryOutcome | 'failed', number> = {
      delivered: 0,
      unchanged: 0,
      refused: 0,
      superseded: 0,
      failed: 0,
    };
    if (message.scope.layer === 'device') {
      // One device (registration hands its first delivery here): gone since is nothing to do.
      try {
        outcomes[(await makeDeliverDeviceConfig(ports)(message.scope.deviceId)).outcome]++;
      } catch (error) {
        if (!(error instanceof DeviceNotFoundError)) throw error;
      }
      return { devices: 1, outcomes, next: 'done' };
    }
    const site = message.scope.layer === 'site' ? message.scope.site : undefined;

    const page = await ports.store.listDevices(site, pageSize, message.cursor);
    const sites = [...new Set(page.items.map((d) => d.site))];
    const readStamps = async () =>
      new Map(await Promise.all(sites.map(async (s) => [s, await readShared(ports.store, s)] as const)));
    const before = await readStamps();

    let next = 0;
    let lastStart = Number.NEGATIVE_INFINITY;
    const worker = async () => {
      for (let i = next++; i < page.items.length; i = next++) {
        const device = page.items[i];
        const shared = device && before.get(device.site);
        if (!device || !shared) continue;
        const wait = lastStart + gapMs - Date.now();
        lastStart = Math.max(Date.now(), lastStart + gapMs);
        if (wait > 0) await sleep(wait);
        try {
          outcomes[await deliverToDevice(ports, device, shared)]++;
        } catch {
          outcomes.failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, page.items.length) }, worker));

    const after = await readStamps();
    const changed = sites.some((s) => layerStamp(after.get(s) ?? {}) !== layerStamp(before.get(s) ?? {}));
    const restarts = message.restarts ?? 0;
    if (changed && restarts < MAX_RESTARTS) {
      await ports.queue.enqueue({ ...message, restarts: restarts + 1 });
      return { devices: page.items.length, outcomes, next: 'again' };
    }
    if (page.nextCursor) {
      await ports.queue.enqueue({ scope: message.scope, cursor: page.nextCursor });
      return { devices: page.items.length, outcomes, next: 'page' };
    }
    return { devices: page.items.length, outcomes, next: 'done' };
  };
