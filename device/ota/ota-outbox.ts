/**
 * Store-and-forward for what the device must tell the cloud about an update: OTA events and job
 * execution updates, in one queue so they arrive in the order they happened.
 *
 * An entry is on disk before `append` resolves, and leaves only once delivered (PUBACK for an
 * event, the Jobs service's verdict for an update). A crash between delivery and removal sends
 * the entry again: events carry a unique eventId and a repeated terminal update is refused as an
 * invalid transition, so at-least-once is harmless. Nothing runs while the queue is empty.
 * An entry appended again under the same id (a stage replayed after a restart) is queued once.
 */
import { z } from 'zod';
import { OtaEventV1 } from '../../contract/ota';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';

export const OutboxEntry = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('ota-event'), id: z.string().min(1), event: OtaEventV1 }),
  z.strictObject({
    kind: z.literal('job-update'),
    id: z.string().min(1),
    jobId: z.string().min(1),
    status: z.enum(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']),
    statusDetails: z.record(z.string(), z.string()),
  }),
]);
export type OutboxEntry = z.infer<typeof OutboxEntry>;

/**
 * - `delivered`: the cloud has it; `dropped`: the cloud refused it for good (logged by the sender);
 * - `offline`: stop until the next flush (the agent flushes on reconnect);
 * - `retry-later`: online but no answer; retried after `retryDelayMs`.
 */
export type Delivery = 'delivered' | 'dropped' | 'offline' | 'retry-later';
export type OutboxSender = (entry: OutboxEntry) => Promise<Delivery>;

/** How many delivered ids an outbox remembers (in memory) to skip a replay of them. */
const RECENT_IDS = 64;

export class OtaOutbox {
  #entries: OutboxEntry[];
  #sender: OutboxSender | undefined;
  #draining: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #writes: Promise<void> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  /** Ids this instance delivered (or the cloud dropped) lately: appending one again is a no-op. */
  #done: string[] = [];

  private constructor(
    private readonly path: string,
    entries: OutboxEntry[],
    private readonly options: DurabilityOptions & { readonly retryDelayMs: number },
  ) {
    this.#entries = entries;
  }

  static async open(
    path: string,
    options: DurabilityOptions & { readonly retryDelayMs: number },
  ): Promise<OtaOutbox> {
    return new OtaOutbox(path, (await readJsonFile(path, z.array(OutboxEntry))) ?? [], options);
  }

  get pending(): readonly OutboxEntry[] {
    return this.#entries;
  }

  /** True while an entry with this id is queued, or once this instance got it out lately. */
  has(id: string): boolean {
    return this.#done.includes(id) || this.#entries.some((entry) => entry.id === id);
  }

  /**
   * Queues entries (an id already queued, or delivered lately, is skipped) and resolves once they
   * are on disk. Throws once closed: the caller must not go on as if they were queued.
   */
  async append(...entries: OutboxEntry[]): Promise<void> {
    if (this.#closed) throw new Error('OTA outbox closed: nothing more is queued');
    const fresh = entries.filter((entry) => !this.has(entry.id)).map((entry) => OutboxEntry.parse(entry));
    if (fresh.length === 0) return;
    this.#entries.push(...fresh);
    await this.#persist();
  }

  /** Who delivers; undefined while there is no session. */
  setSender(sender: OutboxSender | undefined): void {
    this.#sender = sender;
  }

  /** Sends queued entries in order until the queue is empty or the sender cannot go on. */
  flush(): Promise<void> {
    if (this.#draining) {
      this.#again = true;
      return this.#draining;
    }
    this.#draining = this.#drain().finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  /** Stops all work and writes: this instance no longer owns the state dir. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
  }

  async #drain(): Promise<void> {
    let removed = false;
    try {
      do {
        this.#again = false;
        for (;;) {
          const head = this.#entries[0];
          const sender = this.#sender;
          if (!head || !sender || this.#closed) break;
          let delivery: Delivery;
          try {
            delivery = await sender(head);
          } catch {
            delivery = 'retry-later';
          }
          if (this.#closed || delivery === 'offline') return;
          if (delivery === 'retry-later') {
            this.#scheduleRetry();
            return;
          }
          // Only the head leaves, and appends go to the tail, so the head is still `head`.
          this.#entries = this.#entries.filter((entry) => entry !== head);
          this.#done = [...this.#done.slice(-(RECENT_IDS - 1)), head.id];
          removed = true;
        }
      } while (this.#again);
    } finally {
      // One write per drain, not per entry: a crash before it re-sends, which is harmless.
      if (removed) await this.#persist();
    }
  }

  #scheduleRetry() {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      // A write that fails here (the disk, a power cut) is retried by the next flush.
      this.flush().catch(() => {});
    }, this.options.retryDelayMs);
    this.#retryTimer.unref();
  }

  #persist(): Promise<void> {
    this.#writes = this.#writes
      .catch(() => {})
      .then(() => (this.#closed ? undefined : writeJsonAtomic(this.path, this.#entries, this.options)));
    return this.#writes;
  }
}
