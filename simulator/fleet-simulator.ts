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
import type { OtaEventV1, OtaStage } from '../contract/ota';
import type { AlertRule } from '../contract/telemetry';
import type { MqttConnector } from '../device/cloud/mqtt-connection';
import { type BrokerAddress, MqttJsConnection } from '../device/cloud/mqtt-js-connection';
import { DeviceAgent, type DeviceAgentOptions } from '../device/device-agent';
import type { LinkShaper } from '../device/ota/artifact-download';
import { type HealthCheck, imageMatchesMetadata } from '../device/ota/health-check';
import {
  describeRetry,
  type OperatorApiClient,
  type RegisterOptions,
  type Registration,
  RegistrationLostError,
} from '../operator-client/operator-api-client';
import type { RetryPolicy } from '../operator-client/retry-policy';
import {
  assignFaultProfile,
  chainLinks,
  corruptingLink,
  cutLink,
  type FaultMix,
  type FaultProfile,
  throttledLink,
} from './fault-profiles';
import { NetworkSwitch } from './network-switch';
import { SimulatedTelemetry, type TelemetryBehaviour } from './simulated-telemetry';

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

/** Telemetry of simulated devices: synthetic readings (simulated-telemetry.ts) through the real pipeline. */
export interface FleetTelemetryOptions {
  /** Each device keeps its telemetry buffer in `<stateDir>/<deviceId>`. */
  readonly stateDir: string;
  /** @default 'edgeops' */
  readonly seed?: string;
  /** Behaviours by device id (a memory leak, a hot CPU, a noisy link, overheating). @default steady */
  readonly behaviours?: Readonly<Record<string, TelemetryBehaviour>>;
  /** Behaviours by firmware version: a release that leaks. */
  readonly byVersion?: Readonly<Record<string, TelemetryBehaviour>>;
  /** @default SimulatedTelemetry's (4 MiB per minute) */
  readonly leakMiBPerMinute?: number;
  /** The agent's defaults (60 s windows, a sample every 10 s, a send every 300 s) unless set. */
  readonly windowSeconds?: number;
  readonly sampleEverySeconds?: number;
  readonly sendEverySeconds?: number;
  readonly maxBatchesPerSecond?: number;
  readonly alertRules?: readonly AlertRule[];
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
  /** Sample synthetic metrics and send them through the agent's telemetry pipeline. */
  readonly telemetry?: FleetTelemetryOptions;
  /** Devices brought up at once. @default 8 */
  readonly concurrency?: number;
  /** How devices register through `api` (local AWS answers slowly under load). */
  readonly registration?: {
    /** Registrations in flight at once, whatever `concurrency` says. @default 4 */
    readonly concurrency?: number;
    /** Backoff for 5xx, 429 and timeouts. @default DEFAULT_RETRY_POLICY */
    readonly retry?: RetryPolicy;
    /** @default a line to `log` */
    readonly onRetry?: RegisterOptions['onRetry'];
  };
  /**
   * Which devices start on a metered link (all, none, or by device id), where the bandwidth
   * policy's `onMetered` applies; `setMetered` changes it later. @default false
   */
  readonly metered?: boolean | ((deviceId: string) => boolean);
  /** How long each device waits for the shadow or Jobs service to answer. @default the agent's (15 s) */
  readonly requestTimeoutMs?: number;
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
  profile: FaultProfile | undefined;
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
  readonly #registrations = new Semaphore();
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

  /**
   * Brings the fleet up, `concurrency` devices at a time, and registers at most
   * `registration.concurrency` of them at once. Stops early (and rejects) on the first device
   * that cannot come up, when `signal` aborts, or when `stop()` is called meanwhile.
   */
  async start(options: { readonly signal?: AbortSignal } = {}): Promise<void> {
    const { size, concurrency = 8 } = this.options;
    const { signal } = options;
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < size && !failed && !this.#stopped) {
        signal?.throwIfAborted();
        const index = next++;
        try {
          await this.#bringUp(index, signal);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, size)) }, worker));
    signal?.throwIfAborted();
  }

  /**
   * Changes what a device's next health check does: `healthy`, `unhealthy-after-boot` or
   * `crash-loop`. The other profiles shape links set up when the device came up.
   */
  setFaultProfile(deviceId: string, profile: 'healthy' | 'unhealthy-after-boot' | 'crash-loop'): void {
    const device = this.#devices.get(deviceId);
    if (!device) throw new Error(`No simulated device ${deviceId}`);
    if (!this.options.ota) throw new Error('Fault profiles need `ota`');
    if (device.profile !== undefined && !HEALTH_PROFILES.has(device.profile))
      throw new Error(`${deviceId} has link profile ${device.profile}, which cannot change now`);
    device.profile = profile;
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

  async #bringUp(index: number, signal: AbortSignal | undefined): Promise<void> {
    const {
      api,
      prefix = 'sim',
      sites = ['plant-a', 'plant-b', 'shop-7'],
      hardwareTypes = ['rpi4', 'jetson-nano'],
      region = 'eu-west',
      firmwareVersion = '1.0.0',
      ota,
    } = this.options;
    const plannedId = `${prefix}-${String(index + 1).padStart(4, '0')}`;
    const hardwareType = hardwareTypes[Math.floor(index / sites.length) % hardwareTypes.length] ?? 'hw';
    const registration = api
      ? await this.#register(
          api,
          { deviceId: plannedId, site: sites[index % sites.length] ?? 'site', hardwareType, region },
          signal,
        )
      : undefined;
    const deviceId = registration?.device.deviceId ?? plannedId;
    if (registration) this.#saveCredentials(registration);
    // By the planned id, so a replacement id (see #register) keeps the device's profile.
    const profile = ota
      ? assignFaultProfile(plannedId, { seed: ota.seed ?? 'edgeops', mix: ota.mix, byDevice: ota.profiles })
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
      ...(this.options.requestTimeoutMs ? { requestTimeoutMs: this.options.requestTimeoutMs } : {}),
      ...(ota ? { ota: this.#otaOptions(device, ota, registration?.trustRoot) } : {}),
      ...(this.options.telemetry
        ? { telemetry: this.#telemetryOptions(device, this.options.telemetry, firmwareVersion) }
        : {}),
    };
    if (this.#stopped) return;
    this.#devices.set(deviceId, device);
    const agent = new DeviceAgent(device.options);
    device.agent = agent;
    await agent.start();
    // stop() ran while this agent was starting: it did not see it.
    if (this.#stopped) await agent.stop();
    this.options.log?.(
      `  ${deviceId} ${registration ? 'registered, ' : ''}connected, reported ${agent.firmwareVersion}`,
    );
  }

  /**
   * Registers through the API with backoff, a few at a time. A retry that finds the id taken by
   * an earlier attempt whose answer was lost (RegistrationLostError) cannot get that device's
   * private key back: the simulator then registers it under a replacement id (`<id>-r2`, ...) and
   * says so; the lost id stays in the registry, never connected.
   */
  async #register(
    api: OperatorApiClient,
    profile: { deviceId: string; site: string; hardwareType: string; region: string },
    signal: AbortSignal | undefined,
  ): Promise<Registration> {
    const { registration = {} } = this.options;
    const retry = registration.retry ?? {};
    for (let replacement = 1; ; replacement++) {
      const deviceId = replacement === 1 ? profile.deviceId : `${profile.deviceId}-r${replacement}`;
      await this.#registrations.acquire(registration.concurrency ?? 4, signal);
      try {
        if (this.#stopped) throw new Error(`Fleet stopped before ${deviceId} registered`);
        return await api.registerDevice(
          { ...profile, deviceId },
          {
            retry,
            ...(signal ? { signal } : {}),
            onRetry: registration.onRetry ?? ((notice) => this.options.log?.(`  ${describeRetry(notice)}`)),
          },
        );
      } catch (error) {
        if (!(error instanceof RegistrationLostError) || replacement >= 3) throw error;
        this.options.log?.(`  ${error.message} Registering it as ${profile.deviceId}-r${replacement + 1}.`);
      } finally {
        this.#registrations.release();
      }
    }
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
      healthCheck,
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

  #telemetryOptions(
    device: SimulatedDevice,
    telemetry: FleetTelemetryOptions,
    factoryVersion: string,
  ): NonNullable<DeviceAgentOptions['telemetry']> {
    const sampler = new SimulatedTelemetry({
      deviceId: device.deviceId,
      firmwareVersion: () => device.agent?.firmwareVersion ?? factoryVersion,
      seed: telemetry.seed,
      behaviour: telemetry.behaviours?.[device.deviceId],
      byVersion: telemetry.byVersion,
      leakMiBPerMinute: telemetry.leakMiBPerMinute,
    });
    const { windowSeconds, sampleEverySeconds, sendEverySeconds, maxBatchesPerSecond, alertRules } =
      telemetry;
    return {
      stateDir: join(telemetry.stateDir, device.deviceId),
      sampler,
      fsync: false,
      ...(windowSeconds === undefined ? {} : { windowSeconds }),
      ...(sampleEverySeconds === undefined ? {} : { sampleEverySeconds }),
      ...(sendEverySeconds === undefined ? {} : { sendEverySeconds }),
      ...(maxBatchesPerSecond === undefined ? {} : { maxBatchesPerSecond }),
      ...(alertRules === undefined ? {} : { alertRules }),
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

  /** Reads the device's profile at each check, so `setFaultProfile` takes effect. */
  #healthCheckFor(device: SimulatedDevice): HealthCheck {
    return async (trial) => {
      if (device.profile === 'unhealthy-after-boot')
        return { healthy: false, detail: 'simulated: the new version does not come up' };
      if (device.profile === 'crash-loop') {
        this.#track(this.#crashAndRestart(device));
        return new Promise((_, reject) =>
          trial.signal.addEventListener('abort', () => reject(trial.signal.reason), { once: true }),
        );
      }
      return imageMatchesMetadata(trial);
    };
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

const HEALTH_PROFILES: ReadonlySet<FaultProfile> = new Set(['healthy', 'unhealthy-after-boot', 'crash-loop']);

/** At most `limit` holders at once; waiters go in arrival order, and leave when `signal` aborts. */
class Semaphore {
  #held = 0;
  readonly #waiting: (() => void)[] = [];

  async acquire(limit: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    while (this.#held >= limit) {
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        };
        const onAbort = () => {
          this.#waiting.splice(this.#waiting.indexOf(wake), 1);
          reject(signal?.reason);
        };
        this.#waiting.push(wake);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    }
    this.#held++;
  }

  release(): void {
    this.#held--;
    this.#waiting.shift()?.();
  }
}
