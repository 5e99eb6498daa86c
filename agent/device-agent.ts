/**
 * The reference device agent: connects to AWS IoT over MQTT 5 with mutual TLS, using its thing
 * name as client id, and keeps its classic shadow's `reported` state true to what it runs.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';

export interface DeviceIdentity {
  readonly deviceId: string;
  readonly certificatePem: string;
  readonly privateKey: string;
}

export interface BrokerAddress {
  readonly host: string;
  readonly port: number;
  /** PEM of the CA that signed the broker's certificate (Amazon Root CA 1 on AWS). */
  readonly ca: string;
}

export interface DeviceAgentOptions {
  readonly identity: DeviceIdentity;
  readonly broker: BrokerAddress;
  readonly firmwareVersion: string;
  readonly log?: (message: string) => void;
}

export interface ShadowRejection {
  readonly code: number;
  readonly message: string;
}

export class ShadowUpdateRejectedError extends Error {
  constructor(readonly rejection: ShadowRejection) {
    super(`Shadow update rejected (${rejection.code}): ${rejection.message}`);
  }
}

const REPORT_TIMEOUT_MS = 15_000;

export class DeviceAgent {
  #client: MqttClient | undefined;
  #firmwareVersion: string;
  readonly #pending = new Map<string, { resolve: () => void; reject: (error: Error) => void }>();
  readonly #shadowTopic: string;

  constructor(private readonly options: DeviceAgentOptions) {
    this.#firmwareVersion = options.firmwareVersion;
    this.#shadowTopic = `$aws/things/${options.identity.deviceId}/shadow`;
  }

  get deviceId(): string {
    return this.options.identity.deviceId;
  }

  get firmwareVersion(): string {
    return this.#firmwareVersion;
  }

  /** Connects, then reports the running firmware; resolves once the shadow service accepted it. */
  async start(): Promise<void> {
    const { identity, broker } = this.options;
    const client = await mqtt.connectAsync({
      protocol: 'mqtts',
      host: broker.host,
      port: broker.port,
      ca: broker.ca,
      cert: identity.certificatePem,
      key: identity.privateKey,
      rejectUnauthorized: true,
      clientId: identity.deviceId,
      protocolVersion: 5,
      clean: true,
      keepalive: 30,
      reconnectPeriod: 2_000,
      connectTimeout: 10_000,
    });
    this.#client = client;
    client.on('message', (topic, payload) => this.#onMessage(topic, payload));
    client.on('error', (error) => this.options.log?.(`[${identity.deviceId}] mqtt error: ${error.message}`));
    // Resubscribing after a reconnect is mqtt.js's job (resubscribe: true); report again so the
    // shadow is fresh after an offline spell.
    client.on('connect', () => void this.report().catch(() => {}));
    await client.subscribeAsync(
      [`${this.#shadowTopic}/update/accepted`, `${this.#shadowTopic}/update/rejected`],
      {
        qos: 1,
      },
    );
    await this.report();
  }

  /** Publishes `state.reported` and waits for the shadow service's verdict. */
  async report(reported: Record<string, unknown> = {}): Promise<void> {
    const client = this.#requireClient();
    const clientToken = randomUUID();
    const verdict = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(clientToken);
        reject(new Error(`No shadow response within ${REPORT_TIMEOUT_MS} ms`));
      }, REPORT_TIMEOUT_MS);
      this.#pending.set(clientToken, {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    const state = { reported: { firmwareVersion: this.#firmwareVersion, ...reported } };
    await client.publishAsync(`${this.#shadowTopic}/update`, JSON.stringify({ state, clientToken }), {
      qos: 1,
    });
    return verdict;
  }

  /** Records that the device now runs `version` and reports it. */
  async switchFirmware(version: string): Promise<void> {
    this.#firmwareVersion = version;
    await this.report();
  }

  async stop(): Promise<void> {
    const client = this.#client;
    this.#client = undefined;
    for (const { reject } of this.#pending.values()) reject(new Error('Agent stopped'));
    this.#pending.clear();
    await client?.endAsync();
  }

  /** The raw client, for tests that need to act like a misbehaving device. */
  get mqttClient(): MqttClient {
    return this.#requireClient();
  }

  #requireClient(): MqttClient {
    if (!this.#client) throw new Error(`Agent ${this.deviceId} is not connected`);
    return this.#client;
  }

  #onMessage(topic: string, payload: Buffer) {
    let message: { clientToken?: unknown; code?: unknown; message?: unknown };
    try {
      message = JSON.parse(payload.toString('utf8'));
    } catch {
      this.options.log?.(`[${this.deviceId}] ignored a non-JSON message on ${topic}`);
      return;
    }
    const pending =
      typeof message.clientToken === 'string' ? this.#pending.get(message.clientToken) : undefined;
    if (!pending || typeof message.clientToken !== 'string') return;
    this.#pending.delete(message.clientToken);
    if (topic.endsWith('/update/accepted')) pending.resolve();
    else
      pending.reject(
        new ShadowUpdateRejectedError({ code: Number(message.code), message: String(message.message) }),
      );
  }
}
