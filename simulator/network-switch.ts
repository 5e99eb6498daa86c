/**
 * A device's network, with a switch: `cut()` drops every session made through it (as a dead
 * uplink would: no clean disconnect) and keeps new ones from connecting; `restore()` lets them
 * connect again. The agent sees ordinary offline/online edges, whatever the transport.
 */
import {
  type MqttConnection,
  type MqttConnector,
  OfflineError,
  type QoS,
} from '../device/cloud/mqtt-connection';

export class NetworkSwitch {
  #up = true;
  readonly #sessions = new Set<SwitchedConnection>();

  constructor(private readonly inner: MqttConnector) {}

  /** Sessions through this switch. */
  readonly connector: MqttConnector = () => {
    const session = new SwitchedConnection(this.inner, (s) => this.#sessions.delete(s));
    this.#sessions.add(session);
    if (this.#up) session.attach();
    return session;
  };

  get up(): boolean {
    return this.#up;
  }

  cut(): void {
    this.#up = false;
    for (const session of this.#sessions) session.detach();
  }

  /** Resolves once every open session is back online. */
  async restore(): Promise<void> {
    this.#up = true;
    const back = [...this.#sessions].map((session) => session.nextOnline());
    for (const session of this.#sessions) session.attach();
    await Promise.all(back);
  }
}

class SwitchedConnection implements MqttConnection {
  #inner: MqttConnection | undefined;
  #online = false;
  #ended = false;
  readonly #messageListeners: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #onlineListeners: (() => void)[] = [];
  readonly #offlineListeners: (() => void)[] = [];
  readonly #firstConnect: Promise<void>;
  #resolveFirst: () => void = () => {};
  #onlineWaiters: (() => void)[] = [];

  constructor(
    private readonly connect: MqttConnector,
    private readonly forget: (session: SwitchedConnection) => void,
  ) {
    this.#firstConnect = new Promise((resolve) => {
      this.#resolveFirst = resolve;
    });
  }

  get online(): boolean {
    return this.#online;
  }

  connected(): Promise<void> {
    return this.#firstConnect;
  }

  async publish(topic: string, payload: string, qos: QoS): Promise<void> {
    if (!this.#inner || !this.#online) throw new OfflineError(topic);
    await this.#inner.publish(topic, payload, qos);
  }

  async subscribe(filters: readonly string[], qos: QoS): Promise<void> {
    if (!this.#inner || !this.#online) throw new OfflineError(filters.join(', '));
    await this.#inner.subscribe(filters, qos);
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

  async end(force?: boolean): Promise<void> {
    this.#ended = true;
    this.forget(this);
    for (const resolve of this.#onlineWaiters.splice(0)) resolve();
    const inner = this.#inner;
    this.#inner = undefined;
    this.#setOnline(false);
    await inner?.end(force);
  }

  attach(): void {
    if (this.#ended || this.#inner) return;
    const inner = this.connect();
    this.#inner = inner;
    inner.connected().catch(() => {});
    inner.onMessage((topic, payload) => {
      if (this.#inner === inner) for (const listener of this.#messageListeners) listener(topic, payload);
    });
    inner.onOnline(() => {
      if (this.#inner === inner) this.#setOnline(true);
    });
    inner.onOffline(() => {
      if (this.#inner === inner) this.#setOnline(false);
    });
  }

  /** Resolves when the session next comes online (at once if it is). */
  nextOnline(): Promise<void> {
    if (this.#online || this.#ended) return Promise.resolve();
    return new Promise((resolve) => this.#onlineWaiters.push(resolve));
  }

  detach(): void {
    const inner = this.#inner;
    this.#inner = undefined;
    this.#setOnline(false);
    void inner?.end(true).catch(() => {});
  }

  #setOnline(online: boolean) {
    if (this.#online === online) return;
    this.#online = online;
    for (const listener of online ? this.#onlineListeners : this.#offlineListeners) listener();
    if (!online) return;
    this.#resolveFirst();
    const waiters = this.#onlineWaiters;
    this.#onlineWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
