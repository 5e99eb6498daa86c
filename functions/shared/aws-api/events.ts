/**
 * EventBridge PutEvents on AwsService (aws-service.ts says why not the SDK's client): what the
 * fleet tells operators who subscribe (alerts, anomaly flags), on the account's default bus.
 */
import { AwsService, dnsSuffix } from './aws-service';

/** One event; `detail` is serialized here. EventBridge takes at most 10 per call, 256 KB in all. */
export interface EventEntry {
  readonly source: string;
  readonly detailType: string;
  readonly detail: object;
  /** @default the default bus */
  readonly eventBusName?: string;
  readonly resources?: readonly string[];
}

export const MAX_EVENTS_PER_CALL = 10;

export class EventBridgeApi {
  readonly #service = new AwsService({
    signingName: 'events',
    endpointId: 'EventBridge',
    host: (region) => `events.${region}.${dnsSuffix(region)}`,
  });

  /**
   * PutEvents, 10 at a time. Throws if EventBridge refused any entry (`FailedEntryCount`), naming
   * the first error, so the caller's retry covers them.
   */
  async putEvents(entries: readonly EventEntry[]): Promise<void> {
    for (let i = 0; i < entries.length; i += MAX_EVENTS_PER_CALL) {
      const chunk = entries.slice(i, i + MAX_EVENTS_PER_CALL);
      const output = await this.#service.sendJson<{
        FailedEntryCount?: number;
        Entries?: { ErrorCode?: string; ErrorMessage?: string }[];
      }>({
        method: 'POST',
        path: '/',
        headers: { 'x-amz-target': 'AWSEvents.PutEvents', 'content-type': 'application/x-amz-json-1.1' },
        body: JSON.stringify({
          Entries: chunk.map((e) => ({
            Source: e.source,
            DetailType: e.detailType,
            Detail: JSON.stringify(e.detail),
            ...(e.eventBusName ? { EventBusName: e.eventBusName } : {}),
            ...(e.resources ? { Resources: e.resources } : {}),
          })),
        }),
      });
      if ((output.FailedEntryCount ?? 0) > 0) {
        const failed = output.Entries?.find((entry) => entry.ErrorCode);
        throw new Error(
          `EventBridge refused ${output.FailedEntryCount} of ${chunk.length} events: ${failed?.ErrorCode}: ${failed?.ErrorMessage}`,
        );
      }
    }
  }
}
