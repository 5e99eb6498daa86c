/**
 * The reference device agent: connects to AWS IoT over MQTT 5 (mutual TLS, client id = thing
 * name), keeps its classic shadow's `reported` state true to what it runs, and, given a state
 * dir, takes OTA updates through AWS IoT Jobs onto A/B slots (`ota-updater.ts`).
 *
 * A reboot is modelled in-process: the agent ends its MQTT session, re-reads the boot state from
 * disk and connects again as whatever firmware that state says runs. `crash()` models a power cut.
 *
 * Given `telemetry`, it also samples itself and sends windowed aggregates and alerts
 * (`telemetry/telemetry-pipeline.ts`) through whichever MQTT session is up.
 */
import { join } from 'node:path';
import type { BandwidthPolicy } from '../contract/bandwidth-policy';
import { OTA_EVENT_TOPIC, type OtaEventV1 } from '../contract/ota';
import type { AlertRule, AlertV1 } from '../contract/telemetry';
import { BandwidthPolicySync, type ShadowSession } from './cloud/bandwidth-policy-sync';
import { IotJobsClient } from './cloud/iot-jobs-client';
import type { MqttConnection, MqttConnector } from './cloud/mqtt-connection';
import { type BrokerAddress, type DeviceIdentity, MqttJsConnection } from './cloud/mqtt-js-connection';
import { RequestTimeoutError } from './cloud/pending-requests';
import { ShadowReporter } from './cloud/shadow-reporter';
import type { LinkShaper } from './ota/artifact-download';
import { checkMaxTrialBoots } from './ota/boot-slots';
import type { DownloadLimits } from './ota/download-budget';
import { type HealthCheck, imageMatchesMetadata } from './ota/health-check';
import type { Delivery, OutboxEntry } from './ota/ota-outbox';
import {
  type JobStep,
  type OtaSession,
  OtaUpdater,
  type RunningFirmware,
  type UpdateModulesSettings,
} from './ota/ota-updater';
import type { Slot } from './storage/device-state-dir';
import { type EventAlert, type TelemetryOptions, TelemetryPipeline } from './telemetry/telemetry-pipeline';

export type { BrokerAddress, DeviceIdentity } from './cloud/mqtt-js-connection';
export { type ShadowRejection, ShadowUpdateRejectedError } from './cloud/shadow-reporter';
export type { EventAlert, TelemetryOptions, TelemetryStats } from './telemetry/telemetry-pipeline';

export interface DeviceAgentOtaOptions {
  /** The device's own directory: A/B slots, boot state, job record, outbox. */
  readonly stateDir: string;
  /** Jobs whose artifact is for other hardware are rejected. */
  readonly hardwareType: string;
  /** @default imageMatchesMetadata (the booted image is the one installed) */
  readonly healthCheck?: HealthCheck;
  /** Scales every wait (health-check soak, retry pauses). @default 1 */
  readonly timeFactor?: number;
  /** Accept `http:` artifact URLs, for local simulations. @default false */
  readonly allowPlainHttp?: boolean;
  /** fsync state files; off only for simulations of many devices on one disk. @default true */
  readonly fsync?: boolean;
  /**
   * Boots a freshly installed version gets to confirm itself (like U-Boot's bootlimit): a trial
   * cut short by a power cut or crash boots it again until they are spent; then the device
   * reverts (`crash-before-confirm`). An integer from 1 to 10. @default 3
   */
  readonly maxTrialBoots?: number;
  /**
   * Called before each write of OTA state (job record, boot state, outbox, slot metadata,
   * finished jobs), with the file's path. Simulations only: throwing there (after `crash()`) is a
   * power cut at that write point.
   */
  readonly beforeWrite?: (path: string) => void;
  /** How the network delivers artifact bytes; simulations throttle, cut or corrupt here. */
  readonly link?: LinkShaper;
  /**
   * The download budget for this hardware type (`ota/download-budget.ts`): a floor on the
   * average rate and a ceiling on the download time. @default 600 s + signed length at 8 KiB/s
   */
  readonly downloadLimits?: DownloadLimits;
  /** The TUF root from registration (`trustRoot` of POST /devices); installed on first use. */
  readonly trustRoot?: unknown;
  /** What slot A holds on first use (simulations use a released image, so deltas apply). */
  readonly factoryImage?: Uint8Array;
  /** Called for every OTA event the device queues (before delivery). */
  readonly onEvent?: (event: OtaEventV1) => void;
  /** @default Date.now */
  readonly clock?: () => number;
  /**
   * How a release component on the `rootfs` handler is installed: `slots`, the built-in A/B slot
   * files in the state dir, or `update-module`, the `rootfs` handler (RAUC). @default 'slots'
   */
  readonly rootfs?: 'slots' | 'update-module';
  /**
   * Update modules, for release components other than the A/B slots (docs/update-modules.md):
   * `handlersDir` (@default /usr/lib/edgeops/update-modules), `timeouts` (seconds per handler
   * state), `env` (added to every handler's environment), `killGraceMs`.
   */
  readonly updateModules?: UpdateModulesSettings;
}

interface CommonOptions {
  /** What runs before any update; with `ota`, only the first use of the state dir reads it. */
  readonly firmwareVersion: string;
  readonly log?: (message: string) => void;
  /** Enables OTA updates over AWS IoT Jobs. */
  readonly ota?: DeviceAgentOtaOptions;
  /** How long to wait for the shadow or Jobs service to answer. @default 15000 */
  readonly requestTimeoutMs?: number;
  /**
   * The link is metered (cellular, satellite): the bandwidth policy's `onMetered` applies.
   * Simulated; `setMetered` changes it. @default false
   */
  readonly metered?: boolean;
  /** Enables telemetry: sampling, windowed aggregates, alerts (`telemetry/telemetry-pipeline.ts`). */
  readonly telemetry?: TelemetryOptions;
}

export type DeviceAgentOptions = CommonOptions &
  (
    | {
        /** Connects with mqtt.js over mutual TLS with this certificate. */
        readonly identity: DeviceIdentity;
        readonly broker: BrokerAddress;
        readonly connector?: undefined;
      }
    | {
        /** Any other MQTT session, e.g. `InMemoryIotCore.connector(thingName)`. */
        readonly identity: Pick<DeviceIdentity, 'deviceId'>;
        readonly connector: MqttConnector;
        readonly broker?: undefined;
      }
  );

interface Session {
  readonly connection: MqttConnection;
  readonly shadow: ShadowReporter;
  readonly jobs: IotJobsClient | undefined;
  readonly abort: AbortController;
  readonly running: RunningFirmware | undefined;
  onlineWork: Promise<void> | undefined;
}

export class DeviceAgent {
  #firmwareVersion: string;
  #session: Session | undefined;
  #updater: OtaUpdater | undefined;
  #lifecycle: Promise<unknown> = Promise.resolve();
  #jobTask: Promise<void> | undefined;
  #wantsNextJob = false;
  #crashed = false;
  readonly #inFlight = new Set<Promise<unknown>>();
  #bandwidth: BandwidthPolicySync | undefined;
  #metered: boolean;
  readonly #bandwidthListeners = new Set<() => void>();
  #telemetry: TelemetryPipeline | undefined;

  constructor(private readonly options: DeviceAgentOptions) {
    if (options.ota?.maxTrialBoots !== undefined) checkMaxTrialBoots(options.ota.maxTrialBoots);
    this.#firmwareVersion = options.firmwareVersion;
    this.#metered = options.metered ?? false;
  }

  /** The bandwidth policy and link type the updater applies before each download. */
  #bandwidthNow(): { policy: BandwidthPolicy | undefined; metered: boolean } {
    return { policy: this.currentBandwidthPolicy(), metered: this.#metered };
  }

  /**
   * The bandwidth policy in force: the one the backend put into the shadow (the device's own or
   * its site's), as last applied; kept on disk with `ota`. Undefined when none applies.
   */
  currentBandwidthPolicy(): BandwidthPolicy | undefined {
    return this.#bandwidth?.current;
  }

  /** True while the (simulated) link is metered. */
  get metered(): boolean {
    return this.#metered;
  }

  /** Switches the simulated link between metered and unmetered. */
  setMetered(metered: boolean): void {
    if (metered === this.#metered) return;
    this.#metered = metered;
    this.#log(`link now ${metered ? 'metered' : 'unmetered'}`);
    for (const listener of this.#bandwidthListeners) listener();
  }

  /**
   * Called whenever the bandwidth policy or the link type changes: a waiting download may decide
   * again. Returns an unsubscribe function.
   */
  onBandwidthChange(listener: () => void): () => void {
    this.#bandwidthListeners.add(listener);
    return () => this.#bandwidthListeners.delete(listener);
  }

  get deviceId(): string {
    return this.options.identity.deviceId;
  }

  /** The version running now (during a trial boot: the one on trial). */
  get firmwareVersion(): string {
    return this.#firmwareVersion;
  }

  /** The slot running now; undefined without OTA or before start. */
  get slot(): Slot | undefined {
    return this.#session?.running?.slot;
  }

  /** Connects, then reports the running firmware; resolves once the shadow service accepted it. */
  async start(): Promise<void> {
    await this.#serially(async () => {
      if (this.#crashed)
        throw new Error(`Agent ${this.deviceId} crashed; start a new agent on its state dir`);
      if (this.#session) return;
      const ota = this.options.ota;
      if (!this.#bandwidth) {
        const log = this.options.log;
        this.#bandwidth = await BandwidthPolicySync.open({
          thingName: this.deviceId,
          file: ota ? join(ota.stateDir, 'bandwidth-policy.json') : undefined,
          durability: { fsync: ota?.fsync ?? true },
          log: (message) => log?.(`[${this.deviceId}] ${message}`),
        });
        this.#bandwidth.onChange(() => {
          for (const listener of this.#bandwidthListeners) listener();
        });
      }
      if (ota && !this.#updater) {
        const log = this.options.log;
        this.#updater = await OtaUpdater.open({
          deviceId: this.deviceId,
          hardwareType: ota.hardwareType,
          factoryVersion: this.options.firmwareVersion,
          stateDir: ota.stateDir,
          healthCheck: ota.healthCheck ?? imageMatchesMetadata,
          timeFactor: ota.timeFactor ?? 1,
          allowPlainHttp: ota.allowPlainHttp ?? false,
          durability: { fsync: ota.fsync ?? true, beforeWrite: ota.beforeWrite },
          maxTrialBoots: ota.maxTrialBoots,
          link: ota.link,
          downloadLimits: ota.downloadLimits,
          rootfs: ota.rootfs,
          updateModules: ota.updateModules,
          trustRoot: ota.trustRoot,
          factoryImage: ota.factoryImage,
          bandwidth: () => this.#bandwidthNow(),
          onEvent: (event) => {
            ota.onEvent?.(event);
            this.#alertOnSecurityFailure(event);
          },
          now: ota.clock ?? Date.now,
          log: (message) => log?.(`[${this.deviceId}] ${message}`),
        });
      }
      const telemetry = this.options.telemetry;
      if (telemetry && !this.#telemetry) {
        this.#telemetry = await TelemetryPipeline.open(telemetry, {
          deviceId: this.deviceId,
          firmwareVersion: () => this.#firmwareVersion,
          bandwidth: () => this.#bandwidthNow(),
          log: this.#log,
        });
      }
      await this.#telemetry?.start();
      await this.#boot(true);
    });
  }

  /**
   * The telemetry pipeline, with `telemetry`: `tick()` to drive it on a manual clock, `stats`,
   * `alertRules`. Undefined before the first start.
   */
  get telemetry(): TelemetryPipeline | undefined {
    return this.#telemetry;
  }

  /** Raises an event alert (a security event, a failed signature check): published at once. */
  async raiseAlert(event: EventAlert): Promise<AlertV1> {
    if (!this.#telemetry) throw new Error(`Agent ${this.deviceId} has no telemetry (or is not started)`);
    return this.#telemetry.raiseEvent(event);
  }

  /** Replaces the threshold alert rules (a new configuration); throws on an invalid rule. */
  async setAlertRules(rules: readonly AlertRule[]): Promise<void> {
    if (!this.#telemetry) throw new Error(`Agent ${this.deviceId} has no telemetry (or is not started)`);
    await this.#telemetry.setAlertRules(rules);
  }

  /** Publishes `state.reported` and waits for the shadow service's verdict. */
  async report(reported: Record<string, unknown> = {}): Promise<void> {
    const session = this.#requireSession();
    await session.shadow.report({ firmwareVersion: this.#firmwareVersion, ...reported });
  }

  /** Records that the device now runs `version` (changed out of band) and reports it. */
  async switchFirmware(version: string): Promise<void> {
    this.#firmwareVersion = version;
    const slot = this.slot;
    if (this.#updater && slot) await this.#updater.relabel(slot, version);
    await this.report();
  }

  /** Disconnects cleanly; work in progress stops and resumes from disk on the next start. */
  async stop(): Promise<void> {
    await this.#serially(async () => {
      const session = this.#session;
      if (session) await this.#endSession(session, 'Agent stopped', false);
      // After the session: a batch waiting for its PUBACK gets it or fails now, not later.
      await this.#telemetry?.stop();
      await this.#jobTask;
    });
  }

  /**
   * Dies as a power cut would: no clean disconnect, no further writes, nothing confirmed. The
   * instance is spent; a new agent on the same state dir is the device starting up again.
   */
  async crash(): Promise<void> {
    this.#crashed = true;
    this.#updater?.close();
    this.#telemetry?.close();
    const session = this.#session;
    if (session) await this.#endSession(session, 'Agent crashed', true);
  }

  /** True while the MQTT session is up. */
  get online(): boolean {
    return this.#session?.connection.online ?? false;
  }

  /** True when nothing is in flight: no boot, job step or delivery under way. */
  get idle(): boolean {
    return this.#inFlight.size === 0;
  }

  /** Resolves once nothing is in flight: no boot, job step or delivery under way. */
  async whenIdle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** The raw mqtt.js client, for tests that need to act like a misbehaving device. */
  get mqttClient() {
    const connection = this.#requireSession().connection;
    if (!(connection instanceof MqttJsConnection))
      throw new Error(`Agent ${this.deviceId} does not use mqtt.js`);
    return connection.client;
  }

  async #boot(waitForFirstReport: boolean): Promise<void> {
    const updater = this.#updater;
    const running = updater ? await updater.boot() : undefined;
    if (running) this.#firmwareVersion = running.version;
    const connection = this.#connect();
    const timeoutMs = this.options.requestTimeoutMs ?? 15_000;
    const session: Session = {
      connection,
      shadow: new ShadowReporter(connection, this.deviceId, timeoutMs),
      jobs: updater ? new IotJobsClient(connection, this.deviceId, { timeoutMs, log: this.#log }) : undefined,
      abort: new AbortController(),
      running,
      onlineWork: undefined,
    };
    this.#session = session;
    const shadowSession = this.#shadowSession(session);
    connection.onMessage((topic, payload) => {
      if (this.#bandwidth?.handle(topic, payload, shadowSession)) return;
      if (!session.jobs?.handle(topic, payload)) session.shadow.handle(topic, payload);
    });
    let wasOnline = false;
    connection.onOnline(() => {
      if (wasOnline) this.#telemetry?.linkReconnected();
      wasOnline = true;
      this.#telemetry?.setPublisher((topic, payload) =>
        session.abort.signal.aborted
          ? Promise.reject(new Error('session ended'))
          : connection.publish(topic, payload, 1),
      );
      const work = this.#whenOnline(session);
      session.onlineWork = work;
      this.#track(work.catch((error) => this.#log(`after reconnect: ${(error as Error).message}`)));
    });
    connection.onOffline(() => {
      this.#log('offline');
      if (this.#session === session) this.#telemetry?.setPublisher(undefined);
    });
    session.jobs?.onNextJobChanged((execution) => {
      if (execution) this.#requestNextJob(session);
    });
    if (updater) {
      updater.outbox.setSender((entry) => this.#deliver(session, entry));
      this.#startJobTask(session, (ota) => updater.resume(ota));
    }
    if (!waitForFirstReport) return;
    try {
      await connection.connected();
      await (session.onlineWork ?? this.#whenOnline(session));
    } catch (error) {
      await this.#endSession(session, 'start failed', true);
      throw error;
    }
  }

  /** The session's shadow access, as the bandwidth policy sync uses it. */
  #shadowSession(session: Session): ShadowSession {
    return {
      publish: (topic, payload) => session.connection.publish(topic, payload, 1),
      report: (reported) => session.shadow.report(reported),
    };
  }

  #connect(): MqttConnection {
    const { options } = this;
    if (options.connector) return options.connector();
    return new MqttJsConnection(options.identity, options.broker, options.log);
  }

  /** On every (re)connect: subscribe, report what runs, deliver what waited, ask for work. */
  async #whenOnline(session: Session): Promise<void> {
    const filters = [
      ...new Set([
        ...session.shadow.subscriptions,
        ...(this.#bandwidth?.subscriptions ?? []),
        ...(session.jobs?.subscriptions ?? []),
      ]),
    ];
    await session.connection.subscribe(filters, 1);
    const bandwidth = this.#bandwidth;
    if (bandwidth)
      this.#track(
        bandwidth
          .refresh(this.#shadowSession(session))
          .catch((error) => this.#log(`bandwidth policy: ${(error as Error).message}`)),
      );
    const updater = this.#updater;
    if (updater)
      this.#track(
        updater.outbox.flush().then(() => {
          if (session.connection.online) this.#requestNextJob(session);
        }),
      );
    await session.shadow.report({ firmwareVersion: this.#firmwareVersion });
  }

  #requestNextJob(session: Session): void {
    const { jobs } = session;
    const updater = this.#updater;
    if (!jobs || !updater || session !== this.#session || session.abort.signal.aborted) return;
    if (this.#jobTask) {
      this.#wantsNextJob = true;
      return;
    }
    this.#wantsNextJob = false;
    this.#startJobTask(session, async (ota) => {
      const execution = await jobs.startNext().catch((error: unknown) => {
        // Unanswered (lost, or a slow service): the execution may have started all the same, and
        // then no notify-next comes for it again. Ask once more when this task ends.
        if (error instanceof RequestTimeoutError) this.#wantsNextJob = true;
        throw error;
      });
      return execution ? updater.run(ota, execution) : 'idle';
    });
  }

  /** Runs one piece of OTA work at a time; a reboot it asks for follows once it is done. */
  #startJobTask(session: Session, work: (ota: OtaSession) => Promise<JobStep>): void {
    const updater = this.#updater;
    const running = session.running;
    if (!updater || !running) return;
    const ota: OtaSession = {
      running,
      signal: session.abort.signal,
      queued: () => this.#track(updater.outbox.flush()),
      confirmed: (version) => {
        this.#firmwareVersion = version;
        this.#track(
          session.shadow
            .report({ firmwareVersion: this.#firmwareVersion })
            .catch((error) => this.#log(`shadow report after update: ${(error as Error).message}`)),
        );
      },
    };
    const task = (async () => {
      let step: JobStep = 'idle';
      try {
        step = await work(ota);
      } catch (error) {
        if (!session.abort.signal.aborted) this.#log(`OTA work stopped: ${(error as Error).message}`);
      }
      this.#jobTask = undefined;
      if (session.abort.signal.aborted) return;
      if (step === 'reboot') {
        // Not awaited: a stop() waiting for this task must not wait for a reboot queued behind it.
        void this.#serially(() => this.#reboot(session)).catch((error) =>
          this.#log(`reboot failed: ${(error as Error).message}`),
        );
        return;
      }
      if (this.#wantsNextJob) this.#requestNextJob(session);
    })();
    this.#jobTask = task;
    this.#track(task);
  }

  async #reboot(session: Session): Promise<void> {
    if (session !== this.#session || session.abort.signal.aborted) return;
    // Best effort: let the `rebooting` stage out before the session goes; the outbox keeps the rest.
    if (this.#updater && session.connection.online)
      await withTimeout(this.#updater.outbox.flush(), this.options.requestTimeoutMs ?? 15_000).catch(
        () => {},
      );
    this.#log('rebooting');
    await this.#endSession(session, 'rebooting', false);
    await this.#boot(false);
  }

  async #endSession(session: Session, reason: string, force: boolean): Promise<void> {
    if (this.#session === session) this.#session = undefined;
    session.abort.abort(new Error(reason));
    this.#updater?.outbox.setSender(undefined);
    this.#telemetry?.setPublisher(undefined);
    session.jobs?.close(reason);
    session.shadow.close(reason);
    await session.connection.end(force).catch(() => {});
  }

  async #deliver(session: Session, entry: OutboxEntry): Promise<Delivery> {
    const { connection, jobs } = session;
    if (session.abort.signal.aborted || !connection.online || !jobs) return 'offline';
    const timeoutMs = this.options.requestTimeoutMs ?? 15_000;
    try {
      if (entry.kind === 'ota-event') {
        await withTimeout(
          connection.publish(OTA_EVENT_TOPIC(this.deviceId), JSON.stringify(entry.event), 1),
          timeoutMs,
        );
        return 'delivered';
      }
      const verdict = await jobs.update(entry.jobId, entry.status, entry.statusDetails, entry.id);
      if (verdict.accepted) return 'delivered';
      if (RETRYABLE_JOBS_ERRORS.has(verdict.code)) return 'retry-later';
      this.#log(`job ${entry.jobId}: update to ${entry.status} refused (${verdict.code}); dropped`);
      return 'dropped';
    } catch {
      return connection.online && !session.abort.signal.aborted ? 'retry-later' : 'offline';
    }
  }

  #requireSession(): Session {
    if (!this.#session) throw new Error(`Agent ${this.deviceId} is not connected`);
    return this.#session;
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#lifecycle.then(operation);
    this.#lifecycle = result.catch(() => {});
    this.#track(result.catch(() => {}));
    return result;
  }

  #track(work: Promise<unknown>): void {
    this.#inFlight.add(work);
    void work.finally(() => this.#inFlight.delete(work)).catch(() => {});
  }

  /** A release that fails verification may be an attack, not a glitch: tell operators at once. */
  #alertOnSecurityFailure(event: OtaEventV1): void {
    const kind = event.stage === 'failed' ? SECURITY_FAILURE.exec(event.reason ?? '')?.[1] : undefined;
    if (!kind || !this.#telemetry) return;
    this.#telemetry
      .raiseEvent({ id: kind, message: `job ${event.jobId}: ${event.reason}` })
      .catch((error) => this.#log(`alert ${kind}: ${(error as Error).message}`));
  }

  #log = (message: string) => this.options.log?.(`[${this.deviceId}] ${message}`);
}

/** OTA failures that are security events: the release did not verify. Raised as event alerts. */
const SECURITY_FAILURE = /^(signature-invalid|metadata-rollback|target-not-signed|sha256-mismatch)\b/;

/** Jobs error codes worth another try later; any other refusal will not change by retrying. */
const RETRYABLE_JOBS_ERRORS = new Set(['RequestThrottled', 'InternalError', 'ServiceUnavailable']);

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
