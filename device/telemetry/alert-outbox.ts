/**
 * Alerts waiting for the broker: `<dir>/alerts.jsonl` (one AlertV1 a line, appended as they are
 * raised) and `<dir>/alert-state.json` (the rules raised now, so an episode that spans a restart
 * is raised once and still cleared).
 *
 * - An alert is on disk before it is first published; it leaves after its PUBACK. Delivered
 *   alerts are cut from the file by one atomic rewrite per flush: a crash before it sends them
 *   again under the same `alertId`, which the backend keeps once.
 * - Alerts go out in the order they were raised, and before any telemetry batch (the pipeline
 *   flushes this outbox first and sends no batch while an alert waits).
 * - The alert is appended before the raised-rule state is written: a crash in between raises the
 *   episode again on restart (a duplicate) rather than losing the alert.
 * - At most MAX_PENDING_ALERTS wait; past that the oldest go (a device that flaps offline for
 *   weeks must not fill its disk with alerts).
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AlertV1 } from '../../contract/telemetry';
import {
  type DurabilityOptions,
  readJsonFile,
  writeFileAtomic,
  writeJsonAtomic,
  writePoint,
} from '../storage/atomic-file';

export const MAX_PENDING_ALERTS = 1000;

const AlertState = z.strictObject({ raised: z.array(z.string()) });

export type AlertPublisher = (alert: AlertV1) => Promise<void>;

export class AlertOutbox {
  #pending: AlertV1[];
  #raised: readonly string[];
  #flushing: Promise<void> | undefined;
  #again = false;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly durability: DurabilityOptions,
    pending: AlertV1[],
    raised: readonly string[],
    private readonly log?: (message: string) => void,
  ) {
    this.#pending = pending;
    this.#raised = raised;
  }

  static async open(
    dir: string,
    durability: DurabilityOptions,
    log?: (message: string) => void,
  ): Promise<AlertOutbox> {
    const file = join(dir, 'alerts.jsonl');
    const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    const pending: AlertV1[] = [];
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (!line) continue;
      const alert = parseAlert(line);
      if (alert && !pending.some((other) => other.alertId === alert.alertId)) pending.push(alert);
      else if (!alert) skipped++;
    }
    const raised = (await readJsonFile(join(dir, 'alert-state.json'), AlertState))?.raised ?? [];
    const outbox = new AlertOutbox(dir, durability, pending, raised, log);
    if (skipped > 0 || (text.length > 0 && !text.endsWith('\n'))) {
      // A torn last line (the append a power cut cut short): rewrite without it, so the next
      // append starts on a line of its own.
      log?.(`telemetry: ${file}: ignored ${skipped} line(s) that do not parse`);
      await outbox.#rewrite();
    }
    return outbox;
  }

  /** Alerts not yet acknowledged, oldest first. */
  get pending(): readonly AlertV1[] {
    return this.#pending;
  }

  /** The rule ids raised when the state was last written. */
  get raised(): readonly string[] {
    return this.#raised;
  }

  /** Appends the alerts, then writes which rules are raised now; resolves once both are on disk. */
  record(alerts: readonly AlertV1[], raised: readonly string[]): Promise<void> {
    return this.#serially(async () => {
      const fresh = alerts
        .map((alert) => AlertV1.parse(alert))
        .filter((alert) => !this.#pending.some((other) => other.alertId === alert.alertId));
      if (fresh.length > 0) {
        this.#pending.push(...fresh);
        if (this.#pending.length > MAX_PENDING_ALERTS) {
          const dropped = this.#pending.length - MAX_PENDING_ALERTS;
          this.#pending = this.#pending.slice(dropped);
          this.log?.(
            `telemetry: ${dropped} undelivered alert(s) dropped (more than ${MAX_PENDING_ALERTS} waiting)`,
          );
          await this.#rewriteNow();
        } else await this.#appendLines(fresh);
      }
      const sameState =
        raised.length === this.#raised.length && raised.every((id) => this.#raised.includes(id));
      if (!sameState) {
        await writeJsonAtomic(join(this.dir, 'alert-state.json'), { raised }, this.durability);
        this.#raised = [...raised];
      }
    });
  }

  /**
   * Publishes waiting alerts in order until none is left or a publish fails (offline, no PUBACK
   * in time). Resolves either way; `pending` says what is left.
   */
  flush(publish: AlertPublisher): Promise<void> {
    if (this.#flushing) {
      this.#again = true;
      return this.#flushing;
    }
    this.#flushing = this.#drain(publish).finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #drain(publish: AlertPublisher): Promise<void> {
    let delivered = 0;
    try {
      do {
        this.#again = false;
        for (;;) {
          const head = this.#pending[0];
          if (!head) break;
          try {
            await publish(head);
          } catch {
            return;
          }
          // Only the head leaves and records append at the tail, so the head is still `head`.
          this.#pending = this.#pending.filter((alert) => alert !== head);
          delivered++;
        }
      } while (this.#again);
    } finally {
      if (delivered > 0)
        await this.#rewrite().catch((error) => this.log?.(`telemetry: ${(error as Error).message}`));
    }
  }

  #rewrite(): Promise<void> {
    return this.#serially(() => this.#rewriteNow());
  }

  async #rewriteNow(): Promise<void> {
    const text = this.#pending.map((alert) => `${JSON.stringify(alert)}\n`).join('');
    await writeFileAtomic(join(this.dir, 'alerts.jsonl'), text, this.durability);
  }

  async #appendLines(alerts: readonly AlertV1[]): Promise<void> {
    const path = join(this.dir, 'alerts.jsonl');
    writePoint(path, this.durability);
    const file = await open(path, 'a');
    try {
      await file.write(alerts.map((alert) => `${JSON.stringify(alert)}\n`).join(''));
      if (this.durability.fsync ?? true) await file.sync();
    } finally {
      await file.close();
    }
  }

  #serially<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(operation);
    this.#queue = result.catch(() => {});
    return result;
  }
}

function parseAlert(line: string): AlertV1 | undefined {
  try {
    const parsed = AlertV1.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
