/**
 * Keeps the device's classic shadow `reported` state true to what it runs: publishes
 * `state.reported` with a clientToken and waits for the shadow service's verdict.
 */
import { randomUUID } from 'node:crypto';
import { shadowTopics } from './iot-topics';
import type { MqttConnection } from './mqtt-connection';
import { PendingRequests } from './pending-requests';

export interface ShadowRejection {
  readonly code: number;
  readonly message: string;
}

export class ShadowUpdateRejectedError extends Error {
  constructor(readonly rejection: ShadowRejection) {
    super(`Shadow update rejected (${rejection.code}): ${rejection.message}`);
  }
}

export class ShadowReporter {
  readonly #topics: ReturnType<typeof shadowTopics>;
  readonly #pending: PendingRequests<void>;

  constructor(
    private readonly connection: MqttConnection,
    thingName: string,
    timeoutMs: number,
  ) {
    this.#topics = shadowTopics(thingName);
    this.#pending = new PendingRequests('shadow', timeoutMs);
  }

  /** Every shadow response (one wildcard, see iot-topics); `handle` picks the update verdicts. */
  get subscriptions(): readonly string[] {
    return [this.#topics.responses];
  }

  /** Resolves once the shadow service accepted the report; rejects on its refusal or a timeout. */
  async report(reported: Record<string, unknown>): Promise<void> {
    const clientToken = randomUUID();
    const verdict = this.#pending.expect(clientToken);
    try {
      await this.connection.publish(
        this.#topics.update,
        JSON.stringify({ state: { reported }, clientToken }),
        1,
      );
    } catch (error) {
      this.#pending.reject(clientToken, error as Error);
    }
    return verdict;
  }

  /** Routes a message; true when it was a shadow verdict for this thing. */
  handle(topic: string, payload: Buffer): boolean {
    if (topic !== this.#topics.accepted && topic !== this.#topics.rejected) return false;
    let message: { clientToken?: unknown; code?: unknown; message?: unknown };
    try {
      message = JSON.parse(payload.toString('utf8'));
    } catch {
      return true;
    }
    const token = typeof message.clientToken === 'string' ? message.clientToken : undefined;
    if (topic === this.#topics.accepted) this.#pending.resolve(token, undefined);
    else
      this.#pending.reject(
        token,
        new ShadowUpdateRejectedError({ code: Number(message.code), message: String(message.message) }),
      );
    return true;
  }

  close(reason: string): void {
    this.#pending.rejectAll(new Error(reason));
  }
}
