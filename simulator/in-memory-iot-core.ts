/**
 * An in-process stand-in for what a device agent talks to in AWS IoT Core: MQTT sessions scoped
 * to one thing, the classic shadow (`update` → `accepted` / `rejected` and `delta`, `get`, and
 * desired-state updates from the backend via `updateDesired`) and the Jobs MQTT API
 * (`notify-next`, `start-next`, `<jobId>/update`), with AWS's rules where they matter to a device:
 * IN_PROGRESS before QUEUED, terminal statuses are final, statusDetails are string → string.
 *
 * For unit tests and fleet simulations on one machine; not a broker (`iot-core-mqtt-broker.ts`
 * puts one in front of it for devices in other processes). No timers: messages are delivered on
 * the next turn of the event loop, in order.
 */

import type { JobExecutionStatus } from '../contract/iot-jobs';
import { OTA_EVENT_TOPIC, OtaEventV1 } from '../contract/ota';
import { jobsTopics, parseJobsTopic, shadowTopics } from '../device/cloud/iot-topics';
import {
  type MqttConnection,
  type MqttConnector,
  OfflineError,
  type QoS,
  topicMatches,
} from '../device/cloud/mqtt-connection';

export interface JobExecutionView {
  readonly jobId: string;
  readonly thingName: string;
  readonly status: JobExecutionStatus;
  readonly statusDetails: Readonly<Record<string, string>>;
  readonly jobDocument: unknown;
  readonly queuedAt: number;
  readonly startedAt?: number;
  readonly lastUpdatedAt: number;
  readonly versionNumber: number;
  readonly executionNumber: number;
}

/** A session as an MQTT broker in front of the core needs it: the agent's port, plus UNSUBSCRIBE. */
export interface InMemorySession extends MqttConnection {
  /** Removes filters this session subscribed; true for each one it had. */
  unsubscribe(filters: readonly string[]): boolean[];
}

/** A message a device published on a topic that is not a service request (e.g. OTA events). */
export interface DeviceMessage {
  readonly thingName: string;
  readonly topic: string;
  readonly payload: string;
  readonly qos: QoS;
}

/** An UpdateJobExecution request as the service judged it. */
export interface JobUpdateRecord {
  readonly thingName: string;
  readonly jobId: string;
  readonly status: string;
  readonly statusDetails: unknown;
  readonly accepted: boolean;
  readonly code?: string;
}

const TERMINAL = new Set<JobExecutionStatus>([
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'REJECTED',
  'REMOVED',
  'CANCELED',
]);
const DEVICE_SETTABLE = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);

export class InMemoryIotCore {
  readonly deviceMessages: DeviceMessage[] = [];
  readonly jobUpdates: JobUpdateRecord[] = [];
  readonly #connections = new Map<string, Set<InMemoryConnection>>();
  readonly #unreachable = new Set<string>();
  readonly #executions = new Map<string, Execution[]>();
  readonly #shadows = new Map<string, Shadow>();
  readonly #startNextCount = new Map<string, number>();
  readonly #waiters = new Set<() => void>();

  /** Sessions for `thingName` (client id = thing name). */
  connector(thingName: string): MqttConnector {
    return () => this.session(thingName);
  }

  /** One new session for `thingName`; online on the next turn of the event loop unless unreachable. */
  session(thingName: string): InMemorySession {
    const connection = new InMemoryConnection(this, thingName);
    const set = this.#connections.get(thingName) ?? new Set();
    set.add(connection);
    this.#connections.set(thingName, set);
    if (!this.#unreachable.has(thingName)) setImmediate(() => connection.goOnline());
    return connection;
  }

  /** Cuts (false) or restores (true) the thing's network: its sessions go offline or come back. */
  setReachable(thingName: string, reachable: boolean): void {
    if (reachable) this.#unreachable.delete(thingName);
    else this.#unreachable.add(thingName);
    for (const connection of this.#connections.get(thingName) ?? []) {
      if (reachable) setImmediate(() => connection.goOnline());
      else connection.goOffline();
    }
    this.#changed();
  }

  isOnline(thingName: string): boolean {
    return [...(this.#connections.get(thingName) ?? [])].some((c) => c.online);
  }

  /** Queues one execution of `jobId` per thing, as CreateJob does, and notifies each thing. */
  createJob(jobId: string, jobDocument: unknown, thingNames: readonly string[]): void {
    const now = Date.now();
    for (const thingName of thingNames) {
      const list = this.#executions.get(thingName) ?? [];
      this.#executions.set(thingName, list);
      this.#whileWatchingNext(thingName, () =>
        list.push({
          jobId,
          thingName,
          status: 'QUEUED',
          statusDetails: {},
          jobDocument,
          queuedAt: now + list.length,
          lastUpdatedAt: now,
          versionNumber: 1,
          executionNumber: 1,
        }),
      );
    }
    this.#changed();
  }

  /** Queues a finished execution again under the next execution number, as a job retry does. */
  retryExecution(thingName: string, jobId: string): void {
    const execution = this.#executions.get(thingName)?.find((e) => e.jobId === jobId);
    if (!execution || !TERMINAL.has(execution.status)) throw new Error(`No finished execution of ${jobId}`);
    this.#whileWatchingNext(thingName, () => {
      execution.status = 'QUEUED';
      execution.statusDetails = {};
      execution.executionNumber++;
      execution.versionNumber = 1;
      execution.queuedAt = Date.now();
      execution.lastUpdatedAt = Date.now();
      delete execution.startedAt;
    });
    this.#changed();
  }

  /** Sends the thing's current `notify-next` again, as a redelivered or repeated notification. */
  repeatNotifyNext(thingName: string): void {
    this.#notifyNext(thingName);
  }

  execution(thingName: string, jobId: string): JobExecutionView | undefined {
    const execution = this.#executions.get(thingName)?.find((e) => e.jobId === jobId);
    return execution ? { ...execution, statusDetails: { ...execution.statusDetails } } : undefined;
  }

  startNextRequests(thingName: string): number {
    return this.#startNextCount.get(thingName) ?? 0;
  }

  /** Accepted updates of one thing (optionally one job), in the order the service took them. */
  acceptedUpdates(thingName: string, jobId?: string): JobUpdateRecord[] {
    return this.jobUpdates.filter(
      (u) => u.accepted && u.thingName === thingName && (jobId === undefined || u.jobId === jobId),
    );
  }

  /** OTA events the thing published, checked against the contract. */
  otaEvents(thingName: string): OtaEventV1[] {
    return this.deviceMessages
      .filter((m) => m.thingName === thingName && m.topic === OTA_EVENT_TOPIC(thingName))
      .map((m) => OtaEventV1.parse(JSON.parse(m.payload)));
  }

  reportedState(thingName: string): Readonly<Record<string, unknown>> | undefined {
    return this.#shadows.get(thingName)?.reported;
  }

  desiredState(thingName: string): Readonly<Record<string, unknown>> | undefined {
    return this.#shadows.get(thingName)?.desired;
  }

  /**
   * Merges `desired` into the thing's classic shadow as the backend's UpdateThingShadow does
   * (nested objects key by key, null deletes), then publishes `update/accepted` and, when
   * desired now differs from reported, `update/delta` to the thing's subscribed sessions.
   */
  updateDesired(thingName: string, desired: Record<string, unknown>): void {
    const topics = shadowTopics(thingName);
    const shadow = this.#shadowOf(thingName);
    mergeState(shadow.desired, desired);
    shadow.version++;
    this.#send(thingName, topics.accepted, {
      state: { desired },
      version: shadow.version,
      timestamp: seconds(),
    });
    this.#sendDelta(thingName, shadow);
    this.#changed();
  }

  /** Resolves with `check()`'s first defined value; re-checked whenever anything happens here. */
  waitFor<T>(check: () => T | undefined, timeoutMs = 5_000, what = 'condition'): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = () => {
        let value: T | undefined;
        try {
          value = check();
        } catch (error) {
          done();
          reject(error);
          return;
        }
        if (value === undefined) return;
        done();
        resolve(value);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(attempt);
      };
      this.#waiters.add(attempt);
      attempt();
    });
  }

  /** @internal A session published `topic`. */
  receive(from: InMemoryConnection, topic: string, payload: string, qos: QoS): void {
    const thingName = from.thingName;
    const own = [`$aws/things/${thingName}/`, `edgeops/devices/${thingName}/`];
    if (!own.some((prefix) => topic.startsWith(prefix)))
      throw new Error(`Not authorized to publish ${topic}`);
    const jobs = parseJobsTopic(thingName, topic);
    if (topic === shadowTopics(thingName).update) this.#updateShadow(from, payload);
    else if (topic === shadowTopics(thingName).get) this.#getShadow(from, payload);
    else if (topic === jobsTopics(thingName).startNext) this.#startNext(from, payload);
    else if (
      jobs === undefined &&
      topic.startsWith(`$aws/things/${thingName}/jobs/`) &&
      topic.endsWith('/update')
    )
      this.#updateExecution(from, topic.split('/')[4] ?? '', payload);
    else this.deviceMessages.push({ thingName, topic, payload, qos });
    this.#changed();
  }

  /** @internal */
  detach(connection: InMemoryConnection): void {
    this.#connections.get(connection.thingName)?.delete(connection);
    this.#changed();
  }

  #updateShadow(from: InMemoryConnection, payload: string) {
    const topics = shadowTopics(from.thingName);
    const request = parseJson(payload) as
      | { state?: { reported?: unknown; desired?: unknown }; clientToken?: unknown }
      | undefined;
    const clientToken = typeof request?.clientToken === 'string' ? request.clientToken : undefined;
    const { reported, desired } = request?.state ?? {};
    if (!isObject(reported) && !isObject(desired)) {
      this.#send(from.thingName, topics.rejected, {
        code: 400,
        message: 'Missing state.reported or state.desired',
        clientToken,
      });
      return;
    }
    const shadow = this.#shadowOf(from.thingName);
    if (isObject(reported)) mergeState(shadow.reported, reported);
    if (isObject(desired)) mergeState(shadow.desired, desired);
    shadow.version++;
    this.#send(from.thingName, topics.accepted, {
      state: { ...(isObject(reported) ? { reported } : {}), ...(isObject(desired) ? { desired } : {}) },
      version: shadow.version,
      timestamp: seconds(),
      clientToken,
    });
    if (isObject(desired)) this.#sendDelta(from.thingName, shadow);
  }

  /** `get`: the whole shadow on `get/accepted`, or 404 on `get/rejected` if there is none yet. */
  #getShadow(from: InMemoryConnection, payload: string) {
    const topics = shadowTopics(from.thingName);
    const request = parseJson(payload) as { clientToken?: unknown } | undefined;
    const clientToken = typeof request?.clientToken === 'string' ? request.clientToken : undefined;
    const shadow = this.#shadows.get(from.thingName);
    if (!shadow) {
      this.#send(from.thingName, topics.getRejected, {
        code: 404,
        message: `No shadow exists with name: '${from.thingName}'`,
        clientToken,
      });
      return;
    }
    const delta = stateDelta(shadow.desired, shadow.reported);
    this.#send(from.thingName, topics.getAccepted, {
      state: {
        ...(Object.keys(shadow.desired).length > 0 ? { desired: structuredClone(shadow.desired) } : {}),
        ...(Object.keys(shadow.reported).length > 0 ? { reported: structuredClone(shadow.reported) } : {}),
        ...(delta ? { delta } : {}),
      },
      version: shadow.version,
      timestamp: seconds(),
      clientToken,
    });
  }

  #shadowOf(thingName: string): Shadow {
    let shadow = this.#shadows.get(thingName);
    if (!shadow) {
      shadow = { version: 0, reported: {}, desired: {} };
      this.#shadows.set(thingName, shadow);
    }
    return shadow;
  }

  #sendDelta(thingName: string, shadow: Shadow) {
    const delta = stateDelta(shadow.desired, shadow.reported);
    if (delta)
      this.#send(thingName, shadowTopics(thingName).delta, {
        state: delta,
        version: shadow.version,
        timestamp: seconds(),
      });
  }

  #startNext(from: InMemoryConnection, payload: string) {
    const topics = jobsTopics(from.thingName);
    this.#startNextCount.set(from.thingName, this.startNextRequests(from.thingName) + 1);
    const request = parseJson(payload) as { clientToken?: unknown; statusDetails?: unknown } | undefined;
    const clientToken = typeof request?.clientToken === 'string' ? request.clientToken : undefined;
    if (!request) {
      this.#reply(from, topics.startNextRejected, { code: 'InvalidJson', clientToken });
      return;
    }
    const next = this.#next(from.thingName);
    if (next?.status === 'QUEUED') {
      next.status = 'IN_PROGRESS';
      next.startedAt = Date.now();
      next.lastUpdatedAt = Date.now();
      next.versionNumber++;
    }
    this.#reply(from, topics.startNextAccepted, {
      clientToken,
      timestamp: seconds(),
      ...(next ? { execution: executionView(next) } : {}),
    });
  }

  #updateExecution(from: InMemoryConnection, jobId: string, payload: string) {
    const thingName = from.thingName;
    const topics = { accepted: `$aws/things/${thingName}/jobs/${jobId}/update/accepted` };
    const rejectedTopic = `$aws/things/${thingName}/jobs/${jobId}/update/rejected`;
    const request = parseJson(payload) as {
      status?: unknown;
      statusDetails?: unknown;
      clientToken?: unknown;
    };
    const clientToken = typeof request?.clientToken === 'string' ? request.clientToken : undefined;
    const refuse = (code: string, message: string) => {
      this.jobUpdates.push({
        thingName,
        jobId,
        status: String(request?.status),
        statusDetails: request?.statusDetails,
        accepted: false,
        code,
      });
      this.#reply(from, rejectedTopic, { code, message, clientToken, timestamp: seconds() });
    };
    if (!request) return refuse('InvalidJson', 'not JSON');
    if (typeof request.status !== 'string' || !DEVICE_SETTABLE.has(request.status))
      return refuse('InvalidRequest', `status must be one of ${[...DEVICE_SETTABLE].join(', ')}`);
    if (request.statusDetails !== undefined && !validStatusDetails(request.statusDetails))
      return refuse('InvalidRequest', 'statusDetails must map [a-zA-Z0-9:_-]+ keys to non-empty strings');
    const execution = this.#executions.get(thingName)?.find((e) => e.jobId === jobId);
    if (!execution) return refuse('ResourceNotFound', `no execution of ${jobId}`);
    if (TERMINAL.has(execution.status))
      return refuse('InvalidStateTransition', `execution is ${execution.status}`);
    const status = request.status as JobExecutionStatus;
    const statusDetails = request.statusDetails as Record<string, string> | undefined;
    this.#whileWatchingNext(thingName, () => {
      execution.status = status;
      if (statusDetails) execution.statusDetails = { ...statusDetails };
      execution.versionNumber++;
      execution.lastUpdatedAt = Date.now();
    });
    this.jobUpdates.push({ thingName, jobId, status, statusDetails, accepted: true });
    this.#reply(from, topics.accepted, {
      clientToken,
      timestamp: seconds(),
      executionState: {
        status,
        statusDetails: execution.statusDetails,
        versionNumber: execution.versionNumber,
      },
    });
  }

  /** Runs `change` and sends notify-next if the thing's next pending execution changed. */
  #whileWatchingNext(thingName: string, change: () => void) {
    const before = this.#next(thingName)?.jobId;
    change();
    if (this.#next(thingName)?.jobId !== before) this.#notifyNext(thingName);
  }

  /** IN_PROGRESS executions first, then QUEUED ones, each oldest first (as AWS IoT orders them). */
  #next(thingName: string): Execution | undefined {
    const pending = (this.#executions.get(thingName) ?? []).filter(
      (e) => e.status === 'IN_PROGRESS' || e.status === 'QUEUED',
    );
    const rank = (e: Execution) => (e.status === 'IN_PROGRESS' ? 0 : 1);
    return pending.sort((a, b) => rank(a) - rank(b) || a.queuedAt - b.queuedAt)[0];
  }

  #notifyNext(thingName: string) {
    const next = this.#next(thingName);
    this.#send(thingName, jobsTopics(thingName).notifyNext, {
      timestamp: seconds(),
      ...(next ? { execution: executionView(next) } : {}),
    });
  }

  /** To every subscribed session of the thing. */
  #send(thingName: string, topic: string, message: unknown) {
    const payload = Buffer.from(JSON.stringify(message));
    for (const connection of this.#connections.get(thingName) ?? [])
      if (connection.isSubscribed(topic))
        setImmediate(() => {
          connection.deliver(topic, payload);
          this.#changed();
        });
  }

  /** Jobs responses go to the requesting session whether or not it subscribed, as in AWS IoT. */
  #reply(to: InMemoryConnection, topic: string, message: unknown) {
    const payload = Buffer.from(JSON.stringify(message));
    setImmediate(() => {
      to.deliver(topic, payload);
      this.#changed();
    });
  }

  #changed() {
    for (const waiter of [...this.#waiters]) waiter();
  }
}

interface Shadow {
  version: number;
  reported: Record<string, unknown>;
  desired: Record<string, unknown>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A shadow update's merge: objects key by key, arrays and scalars replaced, null deletes. */
function mergeState(target: Record<string, unknown>, update: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(update)) {
    if (value === null) delete target[key];
    else if (isObject(value)) {
      const existing = target[key];
      const next = isObject(existing) ? existing : {};
      mergeState(next, value);
      if (Object.keys(next).length > 0) target[key] = next;
      else delete target[key];
    } else target[key] = structuredClone(value);
  }
}

/** What AWS IoT publishes as `delta`: the parts of desired that reported does not match, or undefined. */
function stateDelta(
  desired: Record<string, unknown>,
  reported: Record<string, unknown>,
): Record<string, unknown> | undefined {
  const delta: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(desired)) {
    const other = reported[key];
    if (isObject(value) && isObject(other)) {
      const inner = stateDelta(value, other);
      if (inner) delta[key] = inner;
    } else if (JSON.stringify(value) !== JSON.stringify(other)) delta[key] = structuredClone(value);
  }
  return Object.keys(delta).length > 0 ? delta : undefined;
}

interface Execution {
  jobId: string;
  thingName: string;
  status: JobExecutionStatus;
  statusDetails: Record<string, string>;
  jobDocument: unknown;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
}

function executionView(e: Execution) {
  return {
    jobId: e.jobId,
    thingName: e.thingName,
    status: e.status,
    statusDetails: e.statusDetails,
    jobDocument: e.jobDocument,
    queuedAt: Math.floor(e.queuedAt / 1000),
    ...(e.startedAt ? { startedAt: Math.floor(e.startedAt / 1000) } : {}),
    lastUpdatedAt: Math.floor(e.lastUpdatedAt / 1000),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
  };
}

function validStatusDetails(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(
    ([key, v]) =>
      /^[a-zA-Z0-9:_-]{1,128}$/.test(key) &&
      typeof v === 'string' &&
      v.length > 0 &&
      v.length <= 1024 &&
      // biome-ignore lint/suspicious/noControlCharactersInRegex: AWS refuses control characters
      !/[\u0000-\u001f\u007f-\u009f]/.test(v),
  );
}

function parseJson(payload: string): unknown {
  try {
    return JSON.parse(payload);
  } catch {
    return undefined;
  }
}

const seconds = () => Math.floor(Date.now() / 1000);

class InMemoryConnection implements InMemorySession {
  readonly #filters = new Set<string>();
  readonly #messageListeners: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #onlineListeners: (() => void)[] = [];
  readonly #offlineListeners: (() => void)[] = [];
  readonly #firstConnect: Promise<void>;
  #resolveFirst: () => void = () => {};
  #online = false;
  #ended = false;

  constructor(
    private readonly core: InMemoryIotCore,
    readonly thingName: string,
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
    if (!this.#online) throw new OfflineError(topic);
    this.core.receive(this, topic, payload, qos);
    await new Promise((resolve) => setImmediate(resolve));
  }

  async subscribe(filters: readonly string[]): Promise<void> {
    if (!this.#online) throw new OfflineError(filters.join(', '));
    for (const filter of filters) this.#filters.add(filter);
  }

  unsubscribe(filters: readonly string[]): boolean[] {
    return filters.map((filter) => this.#filters.delete(filter));
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

  async end(): Promise<void> {
    if (this.#ended) return;
    this.goOffline();
    this.#ended = true;
    this.core.detach(this);
  }

  isSubscribed(topic: string): boolean {
    return [...this.#filters].some((filter) => topicMatches(filter, topic));
  }

  goOnline(): void {
    if (this.#ended || this.#online) return;
    this.#online = true;
    this.#filters.clear(); // clean session: the client subscribes again
    for (const listener of this.#onlineListeners) listener();
    this.#resolveFirst();
  }

  goOffline(): void {
    if (!this.#online) return;
    this.#online = false;
    for (const listener of this.#offlineListeners) listener();
  }

  deliver(topic: string, payload: Buffer): void {
    if (!this.#online) return;
    for (const listener of this.#messageListeners) listener(topic, payload);
  }
}
