/**
 * The device's side of the log upload URL request/reply: it publishes on its own
 * `commands/upload-url` topic and the backend answers on `…/accepted` or `…/rejected`, correlated
 * by clientToken. Answers are parsed at the edge; one that does not parse is ignored.
 */
import { randomUUID } from 'node:crypto';
import { COMMAND_TOPICS, UploadUrlAcceptedV1, UploadUrlRejectedV1 } from '../../contract/device-commands';
import type { MqttConnection } from '../cloud/mqtt-connection';
import { PendingRequests } from '../cloud/pending-requests';

export class UploadUrlRefusedError extends Error {
  override readonly name = 'UploadUrlRefusedError';
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(`upload URL refused (${code}): ${message}`);
  }
}

export class UploadUrlClient {
  readonly #pending: PendingRequests<UploadUrlAcceptedV1>;

  constructor(
    private readonly connection: Pick<MqttConnection, 'publish'>,
    private readonly thingName: string,
    timeoutMs: number,
    private readonly log?: (message: string) => void,
  ) {
    this.#pending = new PendingRequests('upload URL', timeoutMs);
  }

  /** The filter for both answers (it does not match the request topic). */
  get subscriptions(): readonly string[] {
    return [COMMAND_TOPICS.uploadUrlResponses(this.thingName)];
  }

  async request(commandId: string, bytes: number): Promise<UploadUrlAcceptedV1> {
    const clientToken = randomUUID();
    const answer = this.#pending.expect(clientToken);
    try {
      await this.connection.publish(
        COMMAND_TOPICS.uploadUrlRequest(this.thingName),
        JSON.stringify({ clientToken, commandId, bytes }),
        1,
      );
    } catch (error) {
      this.#pending.reject(clientToken, error as Error);
    }
    return answer;
  }

  /** Routes a message; true when it was an answer to an upload URL request of this thing. */
  handle(topic: string, payload: Buffer): boolean {
    const accepted = topic === COMMAND_TOPICS.uploadUrlAccepted(this.thingName);
    if (!accepted && topic !== COMMAND_TOPICS.uploadUrlRejected(this.thingName)) return false;
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.log?.(`ignored a non-JSON message on ${topic}`);
      return true;
    }
    if (accepted) {
      const parsed = UploadUrlAcceptedV1.safeParse(json);
      if (parsed.success) this.#pending.resolve(parsed.data.clientToken, parsed.data);
      else this.log?.(`ignored a malformed message on ${topic}`);
    } else {
      const parsed = UploadUrlRejectedV1.safeParse(json);
      if (parsed.success)
        this.#pending.reject(
          parsed.data.clientToken,
          new UploadUrlRefusedError(parsed.data.code, parsed.data.message),
        );
      else this.log?.(`ignored a malformed message on ${topic}`);
    }
    return true;
  }

  close(reason: string): void {
    this.#pending.rejectAll(new Error(reason));
  }
}
