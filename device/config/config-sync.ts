/**
 * Keeps the device's configuration in step with its `config` named shadow (contract/device-config.ts).
 * The backend alone writes that shadow's desired state (the device's IoT policy denies it updates
 * there); the device reads it, applies each key it knows, and reports what it applied, and what
 * it refused and why, as a whole message on its own topic.
 *
 * 1. On every connect it asks for the shadow (`get`); a change arrives as `update/documents`
 *    (the whole new document) or `update/delta` (only a trigger: it asks again). Older shadow
 *    versions than one already handled in the session are ignored. No shadow (404) is an empty
 *    configuration.
 * 2. The document must carry the revision of its own values (a hash); one that does not (a
 *    half-merged or tampered document) changes nothing and is reported as rejected.
 * 3. Key by key: a key without an applier here is rejected (`unknown key`), a value its schema
 *    refuses is rejected with the reason, an applier that throws is rejected with its message;
 *    each of those keeps the value applied before. A key no longer desired is handed to its
 *    applier as `undefined` (back to the default). Unchanged values are not applied again.
 * 4. What is applied is written atomically to the state dir before it is reported, so a restart
 *    offline applies the same again (`open`), and the report's `seq` only grows.
 * 5. The report goes out after every document handled, and again on reconnect (it is QoS 1; the
 *    backend keeps only the newest `seq`).
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import {
  CONFIG_REPORT_TOPIC,
  CONFIG_SHADOW_NAME,
  type ConfigReportV1,
  configRevision,
  EMPTY_CONFIG_REVISION,
  isConfigKey,
  parseConfigValue,
  REVISION_FIELD,
  withoutNulls,
} from '../../contract/device-config';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';

/** Applies one key's value (already valid for its schema), or with `undefined` its default. */
export type ConfigApplier = (value: unknown) => Promise<void> | void;

/** On disk: what is applied and the last report's sequence number. */
const StoredConfig = z.object({
  revision: z.string(),
  applied: z.record(z.string(), z.unknown()),
  rejected: z.record(z.string(), z.string()),
  seq: z.number().int().nonnegative(),
});
type StoredConfig = z.infer<typeof StoredConfig>;

export interface ConfigSyncOptions {
  readonly thingName: string;
  /** Appliers by key; a desired key without one is rejected. */
  readonly appliers: Readonly<Record<string, ConfigApplier>>;
  /** Where the applied configuration is kept across restarts; in memory only when undefined. */
  readonly file?: string | undefined;
  readonly durability?: DurabilityOptions;
  readonly log: (message: string) => void;
  /** @default Date.now */
  readonly now?: () => number;
}

/** What a session lends the sync: its MQTT publish (QoS 1). */
export interface ConfigSession {
  publish(topic: string, payload: string): Promise<void>;
}

/** The named shadow's topics for one device. */
export function configShadowTopics(thingName: string) {
  const base = `$aws/things/${thingName}/shadow/name/${CONFIG_SHADOW_NAME}`;
  return {
    get: `${base}/get`,
    getAccepted: `${base}/get/accepted`,
    getRejected: `${base}/get/rejected`,
    delta: `${base}/update/delta`,
    documents: `${base}/update/documents`,
    /** Every response of the named shadow (not the device's own `get`). */
    responses: `${base}/+/+`,
  } as const;
}

export class ConfigSync {
  readonly #topics: ReturnType<typeof configShadowTopics>;
  #state: StoredConfig;
  /** The newest shadow version handled in this session; older documents are ignored. */
  #version = -1;
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: ConfigSyncOptions,
    state: StoredConfig,
  ) {
    this.#topics = configShadowTopics(options.thingName);
    this.#state = state;
  }

  /**
   * Loads what was applied before the last restart and applies it again (the appliers start from
   * their defaults in a new process); a corrupt file counts as nothing applied (logged).
   */
  static async open(options: ConfigSyncOptions): Promise<ConfigSync> {
    let state: StoredConfig = { revision: EMPTY_CONFIG_REVISION, applied: {}, rejected: {}, seq: 0 };
    if (options.file) {
      try {
        state = (await readJsonFile(options.file, StoredConfig)) ?? state;
      } catch (error) {
        options.log(`config: ignoring stored configuration: ${(error as Error).message}`);
      }
    }
    const sync = new ConfigSync(options, state);
    for (const [key, value] of Object.entries(state.applied)) {
      try {
        await options.appliers[key]?.(value);
      } catch (error) {
        options.log(`config: re-applying ${key} failed: ${(error as Error).message}`);
      }
    }
    return sync;
  }

  /** The configuration in force: key → value applied. */
  get applied(): Readonly<Record<string, unknown>> {
    return this.#state.applied;
  }

  /** Keys refused in the last document handled, with why. */
  get rejected(): Readonly<Record<string, string>> {
    return this.#state.rejected;
  }

  /** The revision of the last document handled. */
  get revision(): string {
    return this.#state.revision;
  }

  get subscriptions(): readonly string[] {
    return [this.#topics.responses];
  }

  /** After (re)subscribing: ask for the whole shadow. A new session may start from any version. */
  async refresh(session: ConfigSession): Promise<void> {
    this.#version = -1;
    await session.publish(this.#topics.get, JSON.stringify({ clientToken: randomUUID() }));
  }

  /** Routes a message; true when it was for the config shadow. */
  handle(topic: string, payload: Buffer, session: ConfigSession): boolean {
    const { getAccepted, getRejected, delta, documents } = this.#topics;
    if (topic !== getAccepted && topic !== getRejected && topic !== delta && topic !== documents)
      return topic.startsWith(this.#topics.responses.slice(0, -4));
    const message = parseJson(payload);
    if (topic === delta) {
      this.#enqueue(() => this.refresh(session));
      return true;
    }
    if (topic === getRejected) {
      if (message?.code === 404) this.#enqueue(() => this.#apply({}, session));
      else
        this.options.log(
          `config: shadow get refused (${String(message?.code)}): ${String(message?.message)}`,
        );
      return true;
    }
    const document =
      topic === documents ? (isObject(message?.current) ? message.current : undefined) : message;
    const version = typeof document?.version === 'number' ? document.version : undefined;
    if (version !== undefined && version <= this.#version) return true;
    if (version !== undefined) this.#version = version;
    const state = isObject(document?.state) ? document.state : {};
    const desired = isObject(state.desired) ? state.desired : {};
    this.#enqueue(() => this.#apply(desired, session));
    return true;
  }

  async #apply(rawDesired: Record<string, unknown>, session: ConfigSession): Promise<void> {
    const desired = withoutNulls(rawDesired) as Record<string, unknown>;
    const { [REVISION_FIELD]: revision, ...values } = desired;
    const expected = configRevision(values);
    if (Object.keys(desired).length > 0 && revision !== expected) {
      this.options.log(
        `config: ignoring a document whose revision ${String(revision)} does not match its values`,
      );
      await this.#save({
        ...this.#state,
        rejected: {
          [REVISION_FIELD]: `revision ${String(revision)} does not match the values (${expected})`,
        },
      });
      await this.#report(session);
      return;
    }
    const applied: Record<string, unknown> = { ...this.#state.applied };
    const rejected: Record<string, string> = {};
    for (const [key, value] of Object.entries(values)) {
      const applier = this.options.appliers[key];
      if (!applier || !isConfigKey(key)) {
        rejected[key] = 'unknown key: this device has no applier for it';
        continue;
      }
      const parsed = parseConfigValue(key, value);
      if (!parsed.ok) {
        rejected[key] = `invalid value: ${parsed.reason}`;
        continue;
      }
      if (key in applied && isDeepStrictEqual(applied[key], parsed.value)) continue;
      try {
        await applier(parsed.value);
        applied[key] = parsed.value;
        this.options.log(`config: ${key} now ${JSON.stringify(parsed.value)}`);
      } catch (error) {
        rejected[key] = `not applied: ${(error as Error).message}`;
      }
    }
    for (const key of Object.keys(applied)) {
      if (key in values) continue;
      try {
        await this.options.appliers[key]?.(undefined);
        delete applied[key];
        this.options.log(`config: ${key} back to its default`);
      } catch (error) {
        rejected[key] = `not removed: ${(error as Error).message}`;
      }
    }
    await this.#save({ revision: expected, applied, rejected, seq: this.#state.seq });
    await this.#report(session);
  }

  async #save(state: StoredConfig): Promise<void> {
    if (this.options.file) await writeJsonAtomic(this.options.file, state, this.options.durability);
    this.#state = state;
  }

  async #report(session: ConfigSession): Promise<void> {
    const seq = this.#state.seq + 1;
    await this.#save({ ...this.#state, seq });
    const report: ConfigReportV1 = {
      schema: 'edgeops.config-report.v1',
      seq,
      revision: this.#state.revision,
      applied: this.#state.applied,
      rejected: this.#state.rejected,
      reportedAt: (this.options.now ?? Date.now)(),
    };
    await session.publish(CONFIG_REPORT_TOPIC(this.options.thingName), JSON.stringify(report));
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue
      .then(work)
      .catch((error) => this.options.log(`config: ${(error as Error).message}`));
  }

  /** Resolves once every message received so far has been handled (tests). */
  settled(): Promise<void> {
    return this.#queue;
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function parseJson(payload: Buffer): Json | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}
