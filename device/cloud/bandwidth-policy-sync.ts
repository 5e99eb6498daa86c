/**
 * Keeps the device's bandwidth policy in step with its classic shadow: the backend puts the
 * effective policy (the device's own, else its site's) into `state.desired.edgeops.bandwidthPolicy`
 * and the device applies it, keeps it on disk, and reports what it applied in `state.reported`.
 *
 * 1. On every connect, and whenever the shadow says desired changed (`update/delta`, or an
 *    `update/accepted` carrying desired state), it asks for the whole shadow (`get`) and applies
 *    `get/accepted`. Deltas are only a trigger: a delta of a nested object holds just the changed
 *    fields, not a whole policy; and a removed policy sends no delta at all.
 * 2. The policy is parsed with the shared zod schema. An invalid one is logged and ignored: the
 *    previous policy stays (a device without updates beats a device with a policy it misreads).
 * 3. No desired policy (or no shadow at all: `get/rejected` 404) means no policy.
 * 4. A changed policy is written atomically to the state dir before it counts, so a restart
 *    offline still knows it; then `state.reported.edgeops.bandwidthPolicy` is brought in line.
 */
import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import {
  BandwidthPolicy,
  bandwidthPolicyShadowValue,
  SHADOW_BANDWIDTH_POLICY_KEY,
  SHADOW_NAMESPACE,
} from '../../contract/bandwidth-policy';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';
import { shadowTopics } from './iot-topics';

/** On disk: the policy last applied, or null for none. */
const StoredPolicy = z.strictObject({ policy: z.nullable(BandwidthPolicy) });

export interface BandwidthPolicySyncOptions {
  readonly thingName: string;
  /** Where the applied policy is kept across restarts; in memory only when undefined. */
  readonly file?: string | undefined;
  readonly durability?: DurabilityOptions;
  readonly log: (message: string) => void;
}

/** What a session lends the sync: its MQTT publish and its shadow reporter. */
export interface ShadowSession {
  publish(topic: string, payload: string): Promise<void>;
  report(reported: Record<string, unknown>): Promise<void>;
}

export class BandwidthPolicySync {
  readonly #topics: ReturnType<typeof shadowTopics>;
  readonly #listeners = new Set<(policy: BandwidthPolicy | undefined) => void>();
  #policy: BandwidthPolicy | undefined;
  /** The newest shadow version applied in this session; older `get` answers are ignored. */
  #appliedVersion = -1;
  /** Applications run one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: BandwidthPolicySyncOptions,
    policy: BandwidthPolicy | undefined,
  ) {
    this.#topics = shadowTopics(options.thingName);
    this.#policy = policy;
  }

  /** Loads the policy applied before the last restart; a corrupt file counts as none (logged). */
  static async open(options: BandwidthPolicySyncOptions): Promise<BandwidthPolicySync> {
    let policy: BandwidthPolicy | undefined;
    if (options.file) {
      try {
        policy = (await readJsonFile(options.file, StoredPolicy))?.policy ?? undefined;
      } catch (error) {
        options.log(`bandwidth policy: ignoring stored policy: ${(error as Error).message}`);
      }
    }
    return new BandwidthPolicySync(options, policy);
  }

  /** The policy in force now; undefined when none applies. */
  get current(): BandwidthPolicy | undefined {
    return this.#policy;
  }

  /** Called after each change of the policy in force. Returns an unsubscribe function. */
  onChange(listener: (policy: BandwidthPolicy | undefined) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every shadow response (one wildcard, see iot-topics); `handle` picks get, delta and update/accepted. */
  get subscriptions(): readonly string[] {
    return [this.#topics.responses];
  }

  /** After (re)subscribing: ask for the whole shadow. A new session may start from any version. */
  async refresh(session: ShadowSession): Promise<void> {
    this.#appliedVersion = -1;
    await this.#requestShadow(session);
  }

  /**
   * Routes a message. True when it was for the sync alone; `update/accepted` is only looked at
   * (the shadow reporter needs it too) and always returns false.
   */
  handle(topic: string, payload: Buffer, session: ShadowSession): boolean {
    const { getAccepted, getRejected, delta, accepted } = this.#topics;
    if (topic !== getAccepted && topic !== getRejected && topic !== delta && topic !== accepted) return false;
    const message = parseJson(payload);
    if (topic === accepted) {
      if (isObject(message?.state) && isObject(message.state.desired)) this.#requestLater(session);
      return false;
    }
    if (topic === delta) {
      if (isObject(message?.state) && SHADOW_NAMESPACE in message.state) this.#requestLater(session);
      return true;
    }
    const version = typeof message?.version === 'number' ? message.version : undefined;
    if (topic === getRejected) {
      if (message?.code === 404)
        this.#enqueue(() => this.#apply({ desired: undefined, reported: undefined }, session));
      else
        this.options.log(
          `bandwidth policy: shadow get refused (${String(message?.code)}): ${String(message?.message)}`,
        );
      return true;
    }
    if (version !== undefined && version < this.#appliedVersion) return true;
    if (version !== undefined) this.#appliedVersion = version;
    const state = isObject(message?.state) ? message.state : {};
    this.#enqueue(() =>
      this.#apply({ desired: policyIn(state.desired), reported: policyIn(state.reported) }, session),
    );
    return true;
  }

  async #apply(
    shadow: { readonly desired: unknown; readonly reported: unknown },
    session: ShadowSession,
  ): Promise<void> {
    let next: BandwidthPolicy | undefined;
    if (shadow.desired !== undefined && shadow.desired !== null) {
      const parsed = BandwidthPolicy.safeParse(withoutNulls(shadow.desired));
      if (!parsed.success) {
        const issues = parsed.error.issues
          .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
          .join('; ');
        this.options.log(
          `bandwidth policy: ignoring invalid desired policy (${issues}); keeping the previous one`,
        );
        return;
      }
      next = parsed.data;
    }
    if (!isDeepStrictEqual(next, this.#policy)) {
      if (this.options.file)
        await writeJsonAtomic(this.options.file, { policy: next ?? null }, this.options.durability);
      this.#policy = next;
      this.options.log(next ? `bandwidth policy now ${JSON.stringify(next)}` : 'bandwidth policy cleared');
      for (const listener of this.#listeners) listener(next);
    }
    // Anything reported that is not exactly the policy in force (including garbage) is overwritten.
    const reported = shadow.reported === undefined ? undefined : BandwidthPolicy.safeParse(shadow.reported);
    const reportedMatches =
      reported === undefined
        ? this.#policy === undefined
        : reported.success && isDeepStrictEqual(reported.data, this.#policy);
    if (reportedMatches) return;
    await session.report({
      [SHADOW_NAMESPACE]: { [SHADOW_BANDWIDTH_POLICY_KEY]: bandwidthPolicyShadowValue(this.#policy) },
    });
  }

  #requestLater(session: ShadowSession): void {
    this.#enqueue(() => this.#requestShadow(session));
  }

  async #requestShadow(session: ShadowSession): Promise<void> {
    await session.publish(this.#topics.get, JSON.stringify({ clientToken: randomUUID() }));
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue
      .then(work)
      .catch((error) => this.options.log(`bandwidth policy: ${(error as Error).message}`));
  }

  /** Resolves once every message received so far has been handled (tests). */
  settled(): Promise<void> {
    return this.#queue;
  }
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `<state part>.edgeops.bandwidthPolicy`, if there. */
function policyIn(part: unknown): unknown {
  if (!isObject(part)) return undefined;
  const namespace = part[SHADOW_NAMESPACE];
  return isObject(namespace) ? namespace[SHADOW_BANDWIDTH_POLICY_KEY] : undefined;
}

function parseJson(payload: Buffer): Json | undefined {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    return isObject(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A field the backend cleared is null in its update. AWS IoT deletes such fields from the shadow
 * document; local AWS keeps them as null. Either way, null means "not set".
 */
function withoutNulls(value: unknown): unknown {
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null));
}
