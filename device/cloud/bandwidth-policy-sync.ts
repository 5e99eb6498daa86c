/**
 * The device's bandwidth policy in force: the `bandwidthPolicy` configuration key, which the
 * config sync (device/config/config-sync.ts) reads from the `config` named shadow and hands to
 * `apply`. The backend puts there the merge of the fleet, site and device layers; this class
 * keeps what was applied on disk (so a restart offline still knows it) and tells the updater and
 * telemetry when it changes.
 *
 * Before layered configuration the policy came from the classic shadow's
 * `desired.edgeops.bandwidthPolicy`, which the device itself could rewrite; that field is no
 * longer read.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';

/** On disk: the policy last applied, or null for none. */
const StoredPolicy = z.strictObject({ policy: z.nullable(BandwidthPolicy) });

export interface BandwidthPolicySyncOptions {
  /** Where the applied policy is kept across restarts; in memory only when undefined. */
  readonly file?: string | undefined;
  readonly durability?: DurabilityOptions;
  readonly log: (message: string) => void;
}

export class BandwidthPolicySync {
  readonly #listeners = new Set<(policy: BandwidthPolicy | undefined) => void>();
  #policy: BandwidthPolicy | undefined;
  /** Applications run one at a time, in arrival order. */
  #queue: Promise<void> = Promise.resolve();

  private constructor(
    private readonly options: BandwidthPolicySyncOptions,
    policy: BandwidthPolicy | undefined,
  ) {
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

  /**
   * The `bandwidthPolicy` key's applier: `undefined` removes the policy. Throws (and changes
   * nothing) on a value the schema refuses. A changed policy is on disk before it counts.
   */
  async apply(value: unknown): Promise<void> {
    const next = value === undefined ? undefined : BandwidthPolicy.parse(value);
    const work = this.#queue.then(async () => {
      if (isDeepStrictEqual(next, this.#policy)) return;
      if (this.options.file)
        await writeJsonAtomic(this.options.file, { policy: next ?? null }, this.options.durability);
      this.#policy = next;
      this.options.log(next ? `bandwidth policy now ${JSON.stringify(next)}` : 'bandwidth policy cleared');
      for (const listener of this.#listeners) listener(next);
    });
    this.#queue = work.catch(() => {});
    return work;
  }
}
