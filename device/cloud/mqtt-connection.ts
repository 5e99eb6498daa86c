/**
 * The agent's MQTT session, as a small port: mqtt.js against AWS IoT in production
 * (`mqtt-js-connection.ts`), an in-process fake in tests and simulations (`in-memory-iot-core.ts`).
 *
 * A connection reconnects by itself and says so through `online` / `offline`; it never queues
 * publishes while offline (the agent's on-disk outbox does that, so nothing is lost on restart).
 */
export type QoS = 0 | 1;

export interface MqttConnection {
  /** True while the session is up. */
  readonly online: boolean;
  /** Resolves on the first successful connect; rejects if the broker refuses the first attempt. */
  connected(): Promise<void>;
  /** Rejects with `OfflineError` at once while offline; resolves on PUBACK for QoS 1. */
  publish(topic: string, payload: string, qos: QoS): Promise<void>;
  /** Lasts for one session: the agent subscribes again after every reconnect. */
  subscribe(filters: readonly string[], qos: QoS): Promise<void>;
  onMessage(listener: (topic: string, payload: Buffer) => void): void;
  onOnline(listener: () => void): void;
  onOffline(listener: () => void): void;
  /** Closes for good. `force` drops the socket without a DISCONNECT, as a power cut would. */
  end(force?: boolean): Promise<void>;
}

/** Opens a new session for one device (client id = thing name). */
export type MqttConnector = () => MqttConnection;

export class OfflineError extends Error {
  override readonly name = 'OfflineError';
  constructor(topic: string) {
    super(`Offline: not publishing to ${topic}`);
  }
}

/** MQTT topic filter matching, with `+` (one level) and `#` (the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
