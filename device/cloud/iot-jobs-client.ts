/**
 * The device side of the AWS IoT Jobs MQTT API over one MQTT session: `notify-next`,
 * StartNextPendingJobExecution (`start-next`) and UpdateJobExecution (`<jobId>/update`).
 * Every payload is parsed at the edge; one that does not parse is logged and ignored.
 */
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import {
  type DeviceSettableStatus,
  type JobExecution,
  JobsErrorResponse,
  NextJobExecutionChanged,
  StartNextAccepted,
  type StatusDetails,
  UpdateAccepted,
} from './iot-jobs-messages';
import { jobsTopics, parseJobsTopic } from './iot-topics';
import type { MqttConnection } from './mqtt-connection';
import { PendingRequests } from './pending-requests';

export class JobsRequestRejectedError extends Error {
  override readonly name = 'JobsRequestRejectedError';
  constructor(readonly response: JobsErrorResponse) {
    super(`Jobs request rejected (${response.code}): ${response.message ?? ''}`);
  }
}

export type UpdateVerdict = { readonly accepted: true } | { readonly accepted: false; readonly code: string };

export interface IotJobsClientOptions {
  readonly timeoutMs: number;
  readonly log?: (message: string) => void;
}

export class IotJobsClient {
  readonly #topics: ReturnType<typeof jobsTopics>;
  readonly #startNext: PendingRequests<JobExecution | undefined>;
  readonly #updates: PendingRequests<UpdateVerdict>;
  readonly #nextListeners: ((execution: JobExecution | undefined) => void)[] = [];

  constructor(
    private readonly connection: MqttConnection,
    private readonly thingName: string,
    private readonly options: IotJobsClientOptions,
  ) {
    this.#topics = jobsTopics(thingName);
    this.#startNext = new PendingRequests('start-next', options.timeoutMs);
    this.#updates = new PendingRequests('job update', options.timeoutMs);
  }

  /** What to subscribe to on every (re)connect: notify-next and the verdicts (wildcards, see iot-topics). */
  get subscriptions(): readonly string[] {
    const t = this.#topics;
    return [t.notifyNext, t.startNextResponses, t.updateResponses];
  }

  /** Called when the service says the next pending execution changed (possibly to none). */
  onNextJobChanged(listener: (execution: JobExecution | undefined) => void): void {
    this.#nextListeners.push(listener);
  }

  /** Starts the next pending execution (IN_PROGRESS ones first) and returns it, if any. */
  async startNext(): Promise<JobExecution | undefined> {
    const clientToken = randomUUID();
    const answer = this.#startNext.expect(clientToken);
    try {
      await this.connection.publish(this.#topics.startNext, JSON.stringify({ clientToken }), 1);
    } catch (error) {
      this.#startNext.reject(clientToken, error as Error);
    }
    return answer;
  }

  /** Sends an UpdateJobExecution and waits for the verdict; a rejection is a verdict, not an error. */
  async update(
    jobId: string,
    status: DeviceSettableStatus,
    statusDetails: StatusDetails,
    clientToken: string = randomUUID(),
  ): Promise<UpdateVerdict> {
    const answer = this.#updates.expect(clientToken);
    try {
      await this.connection.publish(
        this.#topics.update(jobId),
        JSON.stringify({ status, statusDetails, clientToken }),
        1,
      );
    } catch (error) {
      this.#updates.reject(clientToken, error as Error);
    }
    return answer;
  }

  /** Routes a message; true when it was a Jobs message for this thing. */
  handle(topic: string, payload: Buffer): boolean {
    const kind = parseJobsTopic(this.thingName, topic);
    if (!kind) return false;
    if (kind.kind === 'notify-next') {
      const message = this.#parse(NextJobExecutionChanged, payload, topic);
      if (message) for (const listener of this.#nextListeners) listener(message.execution);
    } else if (kind.verdict === 'rejected') {
      const error = this.#parse(JobsErrorResponse, payload, topic);
      if (!error) return true;
      if (kind.kind === 'start-next')
        this.#startNext.reject(error.clientToken, new JobsRequestRejectedError(error));
      else this.#updates.resolve(error.clientToken, { accepted: false, code: error.code });
    } else if (kind.kind === 'start-next') {
      const accepted = this.#parse(StartNextAccepted, payload, topic);
      if (accepted) this.#startNext.resolve(accepted.clientToken, accepted.execution);
    } else {
      const accepted = this.#parse(UpdateAccepted, payload, topic);
      if (accepted) this.#updates.resolve(accepted.clientToken, { accepted: true });
    }
    return true;
  }

  /** Fails every open request, e.g. when the session ends. */
  close(reason: string): void {
    this.#startNext.rejectAll(new Error(reason));
    this.#updates.rejectAll(new Error(reason));
  }

  #parse<S extends z.ZodType>(schema: S, payload: Buffer, topic: string): z.output<S> | undefined {
    let json: unknown;
    try {
      json = JSON.parse(payload.toString('utf8'));
    } catch {
      this.options.log?.(`[${this.thingName}] ignored a non-JSON message on ${topic}`);
      return undefined;
    }
    const parsed = schema.safeParse(json);
    if (parsed.success) return parsed.data;
    this.options.log?.(
      `[${this.thingName}] ignored a malformed message on ${topic}: ${parsed.error.message}`,
    );
    return undefined;
  }
}
