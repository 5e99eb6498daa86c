/**
 * The production MQTT session: MQTT 5 over mutual TLS with the device's certificate, client id =
 * thing name, as AWS IoT requires. mqtt.js reconnects on its own; we turn its events into clean
 * online/offline edges and fail publishes fast while offline instead of letting mqtt.js queue them
 * in memory (the agent's outbox keeps them on disk).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { type MqttConnection, OfflineError, type QoS } from './mqtt-connection';

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
  /**
   * MQTT keep-alive (AWS IoT accepts 30–1200 s). The client pings after this long without
   * traffic and drops the session when no answer comes within half as long again. @default 30
   */
  readonly keepaliveSeconds?: number;
  /** How long one connect attempt (TLS and CONNACK) may take before it is retried. @default 10000 */
  readonly connectTimeoutMs?: number;
}

export class MqttJsConnection implements MqttConnection {
  readonly client: MqttClient;
  readonly #firstConnect: Promise<void>;
  readonly #messageListeners: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #onlineListeners: (() => void)[] = [];
  readonly #offlineListeners: (() => void)[] = [];
  #online = false;

  constructor(identity: DeviceIdentity, broker: BrokerAddress, log?: (message: string) => void) {
    this.client = mqtt.connect({
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
      keepalive: broker.keepaliveSeconds ?? 30,
      reconnectPeriod: 2_000,
      connectTimeout: broker.connectTimeoutMs ?? 10_000,
      // The agent subscribes again on every `online`; one owner for subscriptions.
      resubscribe: false,
    });
    this.#firstConnect = new Promise<void>((resolve, reject) => {
      const settle = (error?: Error) => {
        this.client.off('connect', onConnect);
        this.client.off('error', onError);
        if (error) reject(error);
        else resolve();
      };
      const onConnect = () => settle();
      const onError = (error: Error) => settle(error);
      this.client.on('connect', onConnect);
      this.client.on('error', onError);
    });
    this.#firstConnect.catch(() => {});
    this.client.on('connect', () => {
      this.#online = true;
      for (const listener of this.#onlineListeners) listener();
    });
    this.client.on('close', () => {
      if (!this.#online) return;
      this.#online = false;
      for (const listener of this.#offlineListeners) listener();
    });
    this.client.on('message', (topic, payload) => {
      for (const listener of this.#messageListeners) listener(topic, payload);
    });
    this.client.on('error', (error) => log?.(`[${identity.deviceId}] mqtt error: ${error.message}`));
  }

  get online(): boolean {
    return this.#online && this.client.connected;
  }

  async connected(): Promise<void> {
    try {
      await this.#firstConnect;
    } catch (error) {
      await this.client.endAsync(true);
      throw error;
    }
  }

  async publish(topic: string, payload: string, qos: QoS): Promise<void> {
    if (!this.online) throw new OfflineError(topic);
    await this.client.publishAsync(topic, payload, { qos });
  }

  async subscribe(filters: readonly string[], qos: QoS): Promise<void> {
    await this.client.subscribeAsync([...filters], { qos });
  }

  onMessage(listener: (topic: string, payload: Buffer) => void): void {
    this.#messageListeners.push(listener);
  }

  onOnline(listener: () => void): void {
    this.#onlineListeners.push(listener);
  }

  onOffline(listener: () => void): void {
    this.#offlineListeners.push(listener);
  }

  async end(force = false): Promise<void> {
    await this.client.endAsync(force);
  }
}
