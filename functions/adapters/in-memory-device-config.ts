import type { ConfigValues } from '../../contract/device-config';
import { type ConfigLayer, type ConfigReportState, driftsByRevision } from '../domain/device-config';
import type { ConfigFanOutMessage, ConfigFanOutQueue } from '../ports/config-fan-out-queue';
import type { ConfigShadow } from '../ports/config-shadow';
import type {
  DeviceConfigPage,
  DeviceConfigRecord,
  DeviceConfigStore,
  DriftingDevice,
  SharedConfigScope,
} from '../ports/device-config-store';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
const EMPTY: ConfigLayer = { values: {}, version: 0 };

/** DeviceConfigStore for unit tests: same conditions and ordering as DynamoDbDeviceConfigStore. */
export class InMemoryDeviceConfigStore implements DeviceConfigStore {
  readonly #shared = new Map<string, ConfigLayer>();
  readonly #devices = new Map<string, Mutable<DeviceConfigRecord> & { drifting?: boolean }>();
  /** Called before each store call with its name: tests change layers "meanwhile" here. */
  beforeCall: ((name: string) => Promise<void> | void) | undefined;

  addDevice(deviceId: string, site: string): void {
    this.#devices.set(deviceId, { deviceId, site, layer: EMPTY });
  }

  isDrifting(deviceId: string): boolean {
    return this.#devices.get(deviceId)?.drifting ?? false;
  }

  async getSharedLayer(scope: SharedConfigScope): Promise<ConfigLayer> {
    await this.beforeCall?.('getSharedLayer');
    return this.#shared.get(sharedKey(scope)) ?? EMPTY;
  }

  async putSharedLayer(scope: SharedConfigScope, values: ConfigValues): Promise<ConfigLayer> {
    await this.beforeCall?.('putSharedLayer');
    const old = this.#shared.get(sharedKey(scope)) ?? EMPTY;
    const layer = { values, version: old.version + 1 };
    this.#shared.set(sharedKey(scope), layer);
    return layer;
  }

  async getDevice(deviceId: string): Promise<DeviceConfigRecord | undefined> {
    await this.beforeCall?.('getDevice');
    const device = this.#devices.get(deviceId);
    return device && structuredClone(device);
  }

  async putDeviceLayer(deviceId: string, values: ConfigValues): Promise<ConfigLayer | undefined> {
    await this.beforeCall?.('putDeviceLayer');
    const device = this.#devices.get(deviceId);
    if (!device) return undefined;
    device.layer = { values, version: device.layer.version + 1 };
    return device.layer;
  }

  async listDevices(
    site: string | undefined,
    limit: number,
    cursor?: string,
  ): Promise<DeviceConfigPage<DeviceConfigRecord>> {
    const all = [...this.#devices.values()]
      .filter((d) => site === undefined || d.site === site)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1));
    const start = cursor ? all.findIndex((d) => d.deviceId > cursor) : 0;
    const items = start < 0 ? [] : all.slice(start, start + limit);
    const last = items.at(-1);
    const more = start >= 0 && start + limit < all.length;
    return { items: structuredClone(items), ...(more && last ? { nextCursor: last.deviceId } : {}) };
  }

  async setDesired(
    deviceId: string,
    desired: { revision: string; layerVersion: number; drifting: boolean },
  ): Promise<boolean> {
    await this.beforeCall?.('setDesired');
    const device = this.#devices.get(deviceId);
    if (!device || device.layer.version !== desired.layerVersion) return false;
    device.desiredRevision = desired.revision;
    device.drifting = desired.drifting;
    return true;
  }

  async markDelivered(
    deviceId: string,
    delivered: { revision: string; layerVersion: number; error?: string },
  ): Promise<boolean> {
    await this.beforeCall?.('markDelivered');
    const device = this.#devices.get(deviceId);
    if (
      !device ||
      device.layer.version !== delivered.layerVersion ||
      device.desiredRevision !== delivered.revision
    )
      return false;
    if (delivered.error) {
      device.deliveryError = delivered.error;
      device.drifting = true;
    } else {
      device.deliveredRevision = delivered.revision;
      delete device.deliveryError;
    }
    return true;
  }

  async recordReport(deviceId: string, report: ConfigReportState): Promise<boolean> {
    const device = this.#devices.get(deviceId);
    if (!device || (device.report && device.report.seq >= report.seq)) return false;
    device.report = report;
    device.drifting = driftsByRevision(device.desiredRevision, report) || device.deliveryError !== undefined;
    return true;
  }

  async listDrifting(
    site: string,
    limit: number,
    cursor?: string,
  ): Promise<DeviceConfigPage<DriftingDevice>> {
    const drifting = [...this.#devices.values()]
      .filter((d) => d.site === site && d.drifting)
      .sort((a, b) => (a.deviceId < b.deviceId ? -1 : 1))
      .filter((d) => cursor === undefined || d.deviceId > cursor);
    const items = drifting.slice(0, limit).map((d) => ({
      deviceId: d.deviceId,
      ...(d.desiredRevision ? { desiredRevision: d.desiredRevision } : {}),
      ...(d.report ? { reportedRevision: d.report.revision, rejected: d.report.rejected } : {}),
      ...(d.deliveryError ? { deliveryError: d.deliveryError } : {}),
    }));
    const last = items.at(-1);
    return { items, ...(drifting.length > limit && last ? { nextCursor: last.deviceId } : {}) };
  }
}

/** ConfigShadow for unit tests: the desired state per device, and every write in order. */
export class InMemoryConfigShadow implements ConfigShadow {
  readonly writes: { readonly deviceId: string; readonly desired: Record<string, unknown> }[] = [];
  readonly failing = new Set<string>();

  async writeDesired(deviceId: string, desired: Readonly<Record<string, unknown>>): Promise<void> {
    if (this.failing.has(deviceId)) throw new Error(`shadow update of ${deviceId} failed`);
    this.writes.push({ deviceId, desired: structuredClone(desired) as Record<string, unknown> });
  }

  desired(deviceId: string): Record<string, unknown> | undefined {
    return this.writes.findLast((w) => w.deviceId === deviceId)?.desired;
  }
}

/** ConfigFanOutQueue for unit tests: messages wait until `drain` runs them through a worker. */
export class InMemoryConfigFanOutQueue implements ConfigFanOutQueue {
  readonly messages: ConfigFanOutMessage[] = [];

  async enqueue(message: ConfigFanOutMessage): Promise<void> {
    this.messages.push(message);
  }

  /** Runs every waiting message (and those they enqueue) through `worker`; returns how many ran. */
  async drain(worker: (message: ConfigFanOutMessage) => Promise<unknown>): Promise<number> {
    let ran = 0;
    for (let message = this.messages.shift(); message; message = this.messages.shift()) {
      await worker(message);
      ran++;
    }
    return ran;
  }
}

const sharedKey = (scope: SharedConfigScope) => (scope.layer === 'fleet' ? 'fleet' : `site#${scope.site}`);
