/**
 * A real MQTT server on 127.0.0.1 in front of `InMemoryIotCore`, so that a device in another
 * process (the `edgeops-agent` daemon, mqtt.js) sees shadows and the Jobs MQTT API exactly as
 * in-process agents do. What it keeps of AWS IoT Core's MQTT side:
 *
 * - mutual TLS: a client without a certificate from the configured CA fails the handshake; the
 *   certificate must be the thing's (by default: its common name is the client id, standing in
 *   for an IoT policy with `${iot:Connection.Thing.ThingName}`), else CONNACK "not authorized";
 * - client id = thing name; a second connection with the same client id takes over (the first is
 *   dropped, reason 0x8E on MQTT 5);
 * - MQTT 3.1.1 and 5, clean sessions only, QoS 0 and 1 (QoS 2 or a retained publish ends the
 *   connection, as AWS IoT does), keep-alive enforced at 1.5 × the client's value;
 * - a publish the core refuses (a topic outside the thing's own) ends the connection;
 * - the thing's network cut in the core (`setReachable(thing, false)`) drops its connection;
 * - a connection that ends without DISCONNECT publishes its will, if it had one.
 *
 * Each connection is one `InMemoryIotCore` session; what the core sends it goes out as PUBLISH at
 * the QoS of the matching subscription. Not a general broker: clients do not hear each other
 * except through the core. Written on mqtt-packet (the parser mqtt.js uses): aedes, the maintained
 * Node broker, speaks MQTT 3.1.1 only (1.2.0), and the agent speaks MQTT 5.
 */
import type { AddressInfo } from 'node:net';
import { createServer, type PeerCertificate, type TLSSocket } from 'node:tls';
import {
  generate,
  type IConnectPacket,
  type IPublishPacket,
  type ISubscribePacket,
  type IUnsubscribePacket,
  type Packet,
  parser as packetParser,
} from 'mqtt-packet';
import { topicMatches } from '../device/cloud/mqtt-connection';
import type { InMemoryIotCore, InMemorySession } from './in-memory-iot-core';

export interface IotCoreMqttBrokerOptions {
  readonly core: InMemoryIotCore;
  /** The server's certificate and key, and the CA device certificates must chain to. */
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** Whether this certificate may connect as `clientId`. @default its subject CN is the client id */
  readonly authorize?: (clientId: string, certificate: PeerCertificate) => boolean;
  readonly log?: (line: string) => void;
}

export interface IotCoreMqttBroker {
  readonly host: string;
  readonly port: number;
  /** Client ids connected now (CONNACK sent, not yet closed). */
  connectedClients(): string[];
  /** Drops the client's connection without a word, as a network cut would. */
  dropClient(clientId: string): void;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

/** MQTT 5 reason codes (3.1.1 return codes in CONNACK where they differ). */
const REASON = {
  success: 0x00,
  noSubscriptionExisted: 0x11,
  unspecified: 0x80,
  protocolError: 0x82,
  clientIdNotValid: 0x85,
  notAuthorized: 0x87,
  keepAliveTimeout: 0x8d,
  sessionTakenOver: 0x8e,
  topicFilterInvalid: 0x8f,
  topicNameInvalid: 0x90,
  qosNotSupported: 0x9b,
  retainNotSupported: 0x9a,
} as const;
const V4_CONNACK = { clientIdNotValid: 2, notAuthorized: 5 } as const;

export async function startIotCoreMqttBroker(options: IotCoreMqttBrokerOptions): Promise<IotCoreMqttBroker> {
  const { core, log = () => {} } = options;
  const authorize = options.authorize ?? ((clientId, certificate) => certificate.subject?.CN === clientId);
  const clients = new Map<string, BrokerClient>();
  const sockets = new Set<TLSSocket>();

  const server = createServer(
    {
      cert: options.tls.cert,
      key: options.tls.key,
      ca: options.tls.ca,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
    },
    (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      new BrokerClient(socket, {
        core,
        log,
        authorize: (clientId) => authorize(clientId, socket.getPeerCertificate()),
        claim: (client) => {
          const previous = clients.get(client.clientId);
          clients.set(client.clientId, client);
          previous?.disconnect(REASON.sessionTakenOver, 'session taken over');
        },
        release: (client) => {
          if (clients.get(client.clientId) === client) clients.delete(client.clientId);
        },
      });
    },
  );
  server.on('tlsClientError', (error) => log(`TLS handshake refused: ${error.message}`));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;

  return {
    host: address.address,
    port: address.port,
    connectedClients: () => [...clients.values()].filter((c) => c.connected).map((c) => c.clientId),
    dropClient: (clientId) => clients.get(clientId)?.drop(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

interface ClientContext {
  readonly core: InMemoryIotCore;
  readonly log: (line: string) => void;
  readonly authorize: (clientId: string) => boolean;
  /** This client now owns its client id; an earlier holder is to be dropped. */
  readonly claim: (client: BrokerClient) => void;
  readonly release: (client: BrokerClient) => void;
}

/** One TLS connection: from CONNECT to close, bridged onto one core session. */
class BrokerClient {
  clientId = '';
  connected = false;
  #protocolVersion: 3 | 4 | 5 = 4;
  #session: InMemorySession | undefined;
  /** This connection's subscriptions: filter → granted QoS. */
  readonly #subscriptions = new Map<string, 0 | 1>();
  #will: IConnectPacket['will'];
  #cleanlyDisconnected = false;
  #closed = false;
  #nextMessageId = 1;
  #keepAlive: NodeJS.Timeout | undefined;
  #keepAliveMs = 0;
  /** Packets are handled one at a time, in order: a PUBLISH reaches the core before the next. */
  #work: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: TLSSocket,
    private readonly context: ClientContext,
  ) {
    const parser = packetParser({ protocolVersion: 5 });
    parser.on('packet', (packet) => {
      this.#touch();
      this.#work = this.#work
        .then(() => (this.#closed ? undefined : this.#handle(packet)))
        .catch((error: unknown) => {
          context.log(`[${this.clientId || '?'}] ${(error as Error).message}`);
          this.disconnect(REASON.unspecified, (error as Error).message);
        });
    });
    parser.on('error', (error) =>
      this.disconnect(REASON.protocolError, `malformed packet: ${error.message}`),
    );
    socket.on('data', (chunk: Buffer) => parser.parse(chunk));
    socket.on('error', () => {}); // a peer that vanished (a killed device): 'close' follows
    socket.once('close', () => this.#onClose());
    // A connection that never sends CONNECT is dropped, as AWS IoT does after a few seconds.
    this.#keepAliveMs = 10_000;
    this.#touch();
  }

  /** Sends DISCONNECT (MQTT 5) with `reason`, then ends the connection. */
  disconnect(reasonCode: number, why: string): void {
    if (this.#closed) return;
    this.context.log(`[${this.clientId || '?'}] disconnecting: ${why}`);
    if (this.connected && this.#protocolVersion === 5) this.#send({ cmd: 'disconnect', reasonCode });
    this.socket.end();
    this.socket.destroySoon();
  }

  /** Ends the connection with no DISCONNECT, as a network cut would. */
  drop(): void {
    this.socket.destroy();
  }

  async #handle(packet: Packet): Promise<void> {
    if (!this.connected && packet.cmd !== 'connect')
      return this.disconnect(REASON.protocolError, `${packet.cmd} before CONNECT`);
    switch (packet.cmd) {
      case 'connect':
        return this.#connect(packet);
      case 'publish':
        return this.#publish(packet);
      case 'subscribe':
        return this.#subscribe(packet);
      case 'unsubscribe':
        return this.#unsubscribe(packet);
      case 'pingreq':
        this.#send({ cmd: 'pingresp' });
        return;
      case 'puback':
        return; // deliveries are not redelivered (clean sessions); nothing to settle
      case 'disconnect':
        this.#cleanlyDisconnected = true;
        this.socket.end();
        return;
      default:
        return this.disconnect(REASON.protocolError, `${packet.cmd} is not supported`);
    }
  }

  async #connect(packet: IConnectPacket): Promise<void> {
    if (this.connected) return this.disconnect(REASON.protocolError, 'second CONNECT');
    this.#protocolVersion = packet.protocolVersion ?? 4;
    if (this.#protocolVersion === 3) {
      this.#send({ cmd: 'connack', returnCode: 1, sessionPresent: false });
      this.socket.end();
      return;
    }
    const refuse = (reason: keyof typeof V4_CONNACK, why: string) => {
      this.context.log(`[${packet.clientId || '?'}] CONNECT refused: ${why}`);
      this.#send(
        this.#protocolVersion === 5
          ? { cmd: 'connack', reasonCode: REASON[reason], sessionPresent: false }
          : { cmd: 'connack', returnCode: V4_CONNACK[reason], sessionPresent: false },
      );
      this.socket.end();
    };
    if (!packet.clientId) return refuse('clientIdNotValid', 'empty client id');
    if (!this.context.authorize(packet.clientId))
      return refuse('notAuthorized', `the certificate is not ${packet.clientId}'s`);
    this.clientId = packet.clientId;
    this.#will = packet.will;
    this.#keepAliveMs = (packet.keepalive ?? 0) * 1500;
    this.context.claim(this);

    const session = this.context.core.session(this.clientId);
    this.#session = session;
    session.onMessage((topic, payload) => this.#deliver(topic, payload));
    // The core cut the thing's network: so does the broker.
    session.onOffline(() => this.drop());
    await session.connected();
    if (this.#closed) return;
    this.connected = true;
    this.#send({
      cmd: 'connack',
      sessionPresent: false,
      ...(this.#protocolVersion === 5
        ? { reasonCode: REASON.success, properties: { maximumQoS: 1, retainAvailable: false } }
        : { returnCode: 0 }),
    });
  }

  async #publish(packet: IPublishPacket): Promise<void> {
    if (packet.qos === 2) return this.disconnect(REASON.qosNotSupported, 'QoS 2 publish');
    if (packet.retain) return this.disconnect(REASON.retainNotSupported, 'retained publish');
    if (!packet.topic || /[+#]/.test(packet.topic))
      return this.disconnect(REASON.topicNameInvalid, `invalid topic ${packet.topic}`);
    const session = this.#session;
    if (!session) return;
    try {
      await session.publish(packet.topic, Buffer.from(packet.payload).toString('utf8'), packet.qos);
    } catch (error) {
      return this.disconnect(REASON.notAuthorized, (error as Error).message);
    }
    if (packet.qos === 1)
      this.#send({
        cmd: 'puback',
        messageId: packet.messageId,
        ...(this.#protocolVersion === 5 ? { reasonCode: REASON.success } : {}),
      });
  }

  async #subscribe(packet: ISubscribePacket): Promise<void> {
    const session = this.#session;
    if (!session) return;
    const valid = packet.subscriptions.filter((s) => validFilter(s.topic));
    await session.subscribe(
      valid.map((s) => s.topic),
      1,
    );
    const granted = packet.subscriptions.map((s) => {
      if (!validFilter(s.topic)) return this.#protocolVersion === 5 ? REASON.topicFilterInvalid : 0x80;
      const qos: 0 | 1 = s.qos === 0 ? 0 : 1;
      this.#subscriptions.set(s.topic, qos);
      return qos;
    });
    this.#send({ cmd: 'suback', messageId: packet.messageId, granted });
  }

  async #unsubscribe(packet: IUnsubscribePacket): Promise<void> {
    const had = packet.unsubscriptions.map((filter) => this.#subscriptions.delete(filter));
    const dropped = packet.unsubscriptions.filter((_, i) => had[i]);
    this.#session?.unsubscribe(dropped);
    // MQTT 3.1.1's UNSUBACK has no reason codes; mqtt-packet leaves them out for it.
    this.#send({
      cmd: 'unsuback',
      messageId: packet.messageId,
      granted: had.map((h) => (h ? REASON.success : REASON.noSubscriptionExisted)),
    });
  }

  /** What the core sends this session, at the QoS of the best matching subscription (0 if none). */
  #deliver(topic: string, payload: Buffer): void {
    if (!this.connected || this.#closed) return;
    let qos: 0 | 1 = 0;
    for (const [filter, granted] of this.#subscriptions)
      if (granted > qos && topicMatches(filter, topic)) qos = granted;
    this.#send({
      cmd: 'publish',
      topic,
      payload,
      qos,
      dup: false,
      retain: false,
      ...(qos === 1 ? { messageId: this.#messageId() } : {}),
    });
  }

  #messageId(): number {
    const id = this.#nextMessageId;
    this.#nextMessageId = id >= 0xffff ? 1 : id + 1;
    return id;
  }

  #send(packet: Packet): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.socket.write(generate(packet, { protocolVersion: this.#protocolVersion }));
  }

  /** Any packet from the client restarts the keep-alive clock. */
  #touch(): void {
    clearTimeout(this.#keepAlive);
    if (this.#keepAliveMs > 0 && !this.#closed)
      this.#keepAlive = setTimeout(
        () => this.disconnect(REASON.keepAliveTimeout, 'keep-alive timed out'),
        this.#keepAliveMs,
      );
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.connected = false;
    clearTimeout(this.#keepAlive);
    const session = this.#session;
    const will = this.#will;
    if (session && will && !this.#cleanlyDisconnected && session.online)
      void session
        .publish(will.topic, Buffer.from(will.payload).toString('utf8'), will.qos === 0 ? 0 : 1)
        .catch(() => {});
    void session?.end(true);
    if (this.clientId) this.context.release(this);
  }
}

/** A topic filter: non-empty, `#` only as the last level, wildcards only as whole levels. */
function validFilter(filter: string): boolean {
  if (filter.length === 0) return false;
  const levels = filter.split('/');
  return levels.every(
    (level, i) => (level === '#' && i === levels.length - 1) || level === '+' || !/[+#]/.test(level),
  );
}
