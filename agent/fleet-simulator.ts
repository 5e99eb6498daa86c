/**
 * Runs a fleet of reference agents in one process. Each device is registered through the operator
 * API (as a factory line would) and connects over MQTT with mutual TLS, or, given `connectorFor`,
 * uses any other MQTT session (e.g. `InMemoryIotCore`, to run thousands on one machine). Which
 * site and hardware each device gets is decided by its index, so the same size gives the same fleet.
 *
 * With `ota`, every device takes OTA jobs on its own state dir and gets a fault profile, decided
 * by a seed and a mix or named per device (`fault-profiles.ts`). An idle device costs no timers
 * beyond its MQTT keepalive: faults act only while an update runs.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OtaEventV1, OtaStage } from '../functions/domain/ota-contract';
import type { LinkShaper } from './artifact-download';
import { DeviceAgent, type DeviceAgentOptions } from './device-agent';
import {
  assignFaultProfile,
  chainLinks,
  corruptingLink,
  cutLink,
  type FaultMix,
  type FaultProfile,
  throttledLink,
} from './fault-profiles';
import type { HealthCheck } from './health-check';
import type { MqttConnector } from './mqtt-connection';
import { type BrokerAddress, MqttJsConnection } from './mqtt-js-connection';
import { NetworkSwitch } from './network-switch';
import type { OperatorApiClient, Registration } from './operator-api-client';

export interface FleetOtaOptions {
  /** Each device keeps its slots and OTA state in `<stateDir>/<deviceId>`. */
  readonly stateDir: string;
  /** @default 'edgeops' */
  readonly seed?: string;
  /** @default { healthy: 1 } */
  readonly mix?: FaultMix;
  /** Explicit fault profiles by device id; they win over the mix. */
  readonly profiles?: Readonly<Record<string, FaultProfile>>;
  /** Scales every wait: soak times, retry pauses, offline spells, crash restarts, slow links. @default 1 */
  readonly timeFactor?: number;
  /** @default false */
  readonly allowPlainHttp?: boolean;
  /** fsync state files; thousands of devices on one disk do without. @default false */
  readonly fsync?: boolean;
  /** `slow-link` throughput, divided by `timeFactor`. @default 32768 */
  readonly slowLinkBytesPerSecond?: number;
  /** `download-failure`: bytes each attempt gets through before the cut. @default 16384 */
  readonly downloadCutBytes?: number;
  /** `offline`: how long the device stays away once its download started. @default 30 */
  readonly offlineSeconds?: number;
  /** `crash-loop`: how long the crashed device stays down before it starts again. @default 5 */
  readonly restartAfterCrashSeconds?: number;
  /** The TUF root devices trust, when they are not registered through the API (which gives it). */
  readonly trustRoot?: unknown;
  /** What each device's slot A holds at first, by hardware type; a released image lets deltas apply. */
  readonly factoryImage?: (hardwareType: string) => Uint8Array | undefined;
}

export interface FleetSimulatorOptions {
  readonly size: number;
  /** Device ids are `<prefix>-<index>`. @default 'sim' */
  readonly prefix?: string;
  readonly sites?: readonly string[];
  readonly hardwareTypes?: readonly string[];
  readonly region?: string;
  readonly firmwareVersion?: string;
  /** Registers each device first; needed for `broker`. */
  readonly api?: OperatorApiClient;
  /** Connect with mqtt.js and each device's own certificate. */
  readonly broker?: BrokerAddress;
  /** Where each device's certificate and key are written (mode 0600). */
  readonly credentialsDir?: string;
  /** Any other MQTT session per device, instead of `broker`. */
  readonly connectorFor?: (deviceId: string) => MqttConnector;
  /** Take OTA jobs, with simulated faults. */
  readonly ota?: FleetOtaOptions;
  /** Devices brought up at once. @default 8 */
  readonly concurrency?: number;
  /**
   * Which devices start on a metered link (all, none, or by device id), where the bandwidth
   * policy's `onMetered` applies; `setMetered` changes it later. @default false
   */
  readonly metered?: boolean | ((deviceId: string) => boolean);
  readonly log?: (line: string) => void;
}

/** Where one simulated device stands in its latest update. */
export interface SimulatedDeviceStatus {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly profile: FaultProfile | undefined;
  /** Latest OTA stage the device queued; undefined before any job. */
  readonly stage: OtaStage | undefined;
  readonly reason: string | undefined;
  readonly runningVersion: string;
}

interface SimulatedDevice {
  readonly deviceId: string;
  readonly hardwareType: string;
  readonly profile: FaultProfile | undefined;
  readonly network: NetworkSwitch | undefined;
  options: DeviceAgentOptions | undefined;
  agent: DeviceAgent | undefined;
  lastEvent: OtaEventV1 | undefined;
  offlineForJob: string | undefined;
}

export class FleetSimulator {
  readonly #devices = new Map<string, SimulatedDevice>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #timers = new Map<NodeJS.Timeout, () => void>();
  #stopped = false;

  constructor(private readonly options: FleetSimulatorOptions) {
    if (!options.connectorFor && !(options.api && options.broker))
      throw new Error('FleetSimulator needs `connectorFor`, or `api` and `broker`');
  }

  /** The agents running now (a crashed device's agent is replaced when it starts again). */
  get agents(): DeviceAgent[] {
    return [...this.#devices.values()].flatMap((device) => (device.agent ? [device.agent] : []));
  }

  agent(deviceId: string): DeviceAgent | undefined {
    return this.#devices.get(deviceId)?.agent;
  }

  /** Switches a device's simulated link; an agent started again after a crash keeps it. */
  setMetered(deviceId: string, metered: boolean): void {
    const device = this.#devices.get(deviceId);
    if (!device?.options) throw new Error(`No simulated device ${deviceId}`);
    device.options = { ...device.options, metered };
    device.agent?.setMetered(metered);
  }

  profileOf(deviceId: string): FaultProfile | undefined {
    return this.#devices.get(deviceId)?.profile;
  }

  statuses(): SimulatedDeviceStatus[] {
    return [...this.#devices.values()].map((device) => ({
      deviceId: device.deviceId,
      hardwareType: device.hardwareType,
      profile: device.profile,
      stage: device.lastEvent?.stage,
      reason: device.lastEvent?.reason,
      runningVersion: device.agent?.firmwareVersion ?? device.lastEvent?.runningVersion ?? '',
    }));
  }

  /** Devices per profile and latest stage, e.g. `{ healthy: { healthy: 90 }, 'crash-loop': { 'rolled-back': 10 } }`. */
  tally(): Record<string, Record<string, number>> {
    const counts: Record<string, Record<string, number>> = {};
    for (const status of this.statuses()) {
      const profile = status.profile ?? 'none';
      const stage = status.stage ?? 'none';
      const byStage = counts[profile] ?? {};
      byStage[stage] = (byStage[stage] ?? 0) + 1;
      counts[profile] = byStage;
    }
    return counts;
  }

  async start(): Promise<void> {
    const { size, concurrency = 8 } = this.options;
    const indexes = Array.from({ length: size }, (_, i) => i);
    for (let i = 0; i < indexes.length; i += concurrency) {
      await Promise.all(indexes.slice(i, i + concurrency).map((index) => this.#bringUp(index)));
    }
  }

  /** Resolves once no device has work in flight and no simulated fault is still pending. */
  async whenIdle(): Promise<void> {
    while (this.#inFlight.size > 0 || this.agents.some((agent) => !agent.idle)) {
      await Promise.allSettled([...this.#inFlight, ...this.agents.map((agent) => agent.whenIdle())]);
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const [timer, resolve] of this.#timers) {
      clearTimeout(timer);
      resolve();
    }
    this.#timers.clear();
    await Promise.allSettled(this.agents.map((agent) => agent.stop()));
  }

  async #bringUp(index: number): Promise<void> {
    const {
      api,
      prefix = 'sim',
      sites = ['plant-a', 'plant-b', 'shop-7'],
      hardwareTypes = ['rpi4', 'jetson-nano'],
      region = 'eu-west',
      firmwareVersion = '1.0.0',
      ota,
    } = this.options;
    const deviceId = `${prefix}-${String(index + 1).padStart(4, '0')}`;
    const hardwareType = hardwareTypes[Math.floor(index / sites.length) % hardwareTypes.length] ?? 'hw';
    const registration = api
      ? await api.registerDevice({
          deviceId,
          site: sites[index % sites.length] ?? 'site',
          hardwareType,
          region,
        })
      : undefined;
    if (registration) this.#saveCredentials(registration);
    const profile = ota
      ? assignFaultProfile(deviceId, { seed: ota.seed ?? 'edgeops', mix: ota.mix, byDevice: ota.profiles })
      : undefined;
    const baseConnector = this.#connectorFor(deviceId, registration);
    const network = profile === 'offline' ? new NetworkSwitch(baseConnector) : undefined;
    const device: SimulatedDevice = {
      deviceId,
      hardwareType,
      profile,
      network,
      options: undefined,
      agent: undefined,
      lastEvent: undefined,
      offlineForJob: undefined,
    };
    device.options = {
      identity: { deviceId },
      connector: network?.connector ?? baseConnector,
      firmwareVersion,
      metered:
        typeof this.options.metered === 'function'
          ? this.options.metered(deviceId)
          : (this.options.metered ?? false),
      ...(this.options.log ? { log: this.options.log } : {}),
      ...(ota ? { ota: this.#otaOptions(device, ota, registration?.trustRoot) } : {}),
    };
    this.#devices.set(deviceId, device);
    const agent = new DeviceAgent(device.options);
    device.agent = agent;
    await agent.start();
    this.options.log?.(
      `  ${deviceId} ${registration ? 'registered, ' : ''}connected, reported ${agent.firmwareVersion}`,
    );
  }

  #connectorFor(deviceId: string, registration: Registration | undefined): MqttConnector {
    const { connectorFor, broker, log } = this.options;
    if (connectorFor) return connectorFor(deviceId);
    if (!broker || !registration) throw new Error(`No way to connect ${deviceId}`);
    const identity = { deviceId, ...registration.credentials };
    return () => new MqttJsConnection(identity, broker, log);
  }

  #otaOptions(
    device: SimulatedDevice,
    ota: FleetOtaOptions,
    registeredRoot: unknown,
  ): NonNullable<DeviceAgentOptions['ota']> {
    const timeFactor = ota.timeFactor ?? 1;
    const trustRoot = registeredRoot ?? ota.trustRoot;
    const factoryImage = ota.factoryImage?.(device.hardwareType);
    const link = this.#linkFor(device.profile, ota, timeFactor);
    const healthCheck = this.#healthCheckFor(device);
    return {
      stateDir: join(ota.stateDir, device.deviceId),
      hardwareType: device.hardwareType,
      timeFactor,
      allowPlainHttp: ota.allowPlainHttp ?? false,
      fsync: ota.fsync ?? false,
      ...(trustRoot === undefined ? {} : { trustRoot }),
      ...(factoryImage ? { factoryImage } : {}),
      ...(link ? { link } : {}),
      ...(healthCheck ? { healthCheck } : {}),
      onEvent: (event) => {
        device.lastEvent = event;
        if (
          device.profile === 'offline' &&
          event.stage === 'downloading' &&
          device.offlineForJob !== event.jobId
        ) {
          device.offlineForJob = event.jobId;
          this.#goOffline(device, (ota.offlineSeconds ?? 30) * 1000 * timeFactor);
        }
      },
    };
  }

  #linkFor(
    profile: FaultProfile | undefined,
    ota: FleetOtaOptions,
    timeFactor: number,
  ): LinkShaper | undefined {
    if (profile === 'slow-link')
      return throttledLink((ota.slowLinkBytesPerSecond ?? 32_768) / Math.max(timeFactor, 1e-6));
    if (profile === 'download-failure')
      return chainLinks(corruptingLink(), cutLink(ota.downloadCutBytes ?? 16_384));
    return undefined;
  }

  #healthCheckFor(device: SimulatedDevice): HealthCheck | undefined {
    if (device.profile === 'unhealthy-after-boot')
      return async () => ({ healthy: false, detail: 'simulated: the new version does not come up' });
    if (device.profile === 'crash-loop')
      return (trial) => {
        this.#track(this.#crashAndRestart(device));
        return new Promise((_, reject) =>
          trial.signal.addEventListener('abort', () => reject(trial.signal.reason), { once: true }),
        );
      };
    return undefined;
  }

  /** The new version takes the device down before it confirms; a watchdog starts it again. */
  async #crashAndRestart(device: SimulatedDevice): Promise<void> {
    const crashed = device.agent;
    const options = device.options;
    const ota = this.options.ota;
    if (!crashed || !options || !ota) return;
    this.options.log?.(`  ${device.deviceId} crashed during its trial boot`);
    await crashed.crash();
    await this.#after((ota.restartAfterCrashSeconds ?? 5) * 1000 * (ota.timeFactor ?? 1));
    if (this.#stopped) return;
    const restarted = new DeviceAgent(options);
    device.agent = restarted;
    await restarted
      .start()
      .catch((error) => this.options.log?.(`  ${device.deviceId} restart: ${error.message}`));
  }

  #goOffline(device: SimulatedDevice, forMs: number) {
    const network = device.network;
    if (!network) return;
    this.options.log?.(`  ${device.deviceId} offline for ${Math.round(forMs)} ms`);
    network.cut();
    this.#track(
      this.#after(forMs).then(async () => {
        if (!this.#stopped) await network.restore();
      }),
    );
  }

  /** A pause that `stop()` cuts short. */
  #after(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.set(timer, resolve);
    });
  }

  #track(work: Promise<unknown>) {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work)).catch(() => {});
  }

  #saveCredentials(registration: Registration) {
    const dir = this.options.credentialsDir;
    if (!dir) return;
    const deviceDir = join(dir, registration.device.deviceId);
    mkdirSync(deviceDir, { recursive: true, mode: 0o700 });
    for (const [file, content] of [
      ['certificate.pem', registration.credentials.certificatePem],
      ['private.key', registration.credentials.privateKey],
    ] as const) {
      writeFileSync(join(deviceDir, file), content, { mode: 0o600 });
      chmodSync(join(deviceDir, file), 0o600);
    }
  }
}
