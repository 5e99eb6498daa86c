import type { DeviceAnomalyEvent, FleetEventPublisher } from '../ports/fleet-event-publisher';
import type { EventBridgeApi } from '../shared/aws-api/events';

/** The source of every event the fleet's backend puts on the default bus. */
export const FLEET_EVENT_SOURCE = 'edgeops.fleet';
export const ANOMALY_FLAGGED = 'Device Anomaly Flagged';
export const ANOMALY_CLEARED = 'Device Anomaly Cleared';

/**
 * FleetEventPublisher on EventBridge's default bus. Delivery is at least once: a retried analysis
 * step may publish an event again, with the same `runId` and `since` to tell duplicates by.
 */
export class EventBridgeFleetEventPublisher implements FleetEventPublisher {
  constructor(private readonly events: EventBridgeApi) {}

  async publish(events: readonly DeviceAnomalyEvent[]): Promise<void> {
    await this.events.putEvents(
      events.map((e) => {
        const { calmRuns: _calm, ...anomaly } = e.anomaly;
        return {
          source: FLEET_EVENT_SOURCE,
          detailType: e.kind === 'flagged' ? ANOMALY_FLAGGED : ANOMALY_CLEARED,
          detail: { deviceId: e.deviceId, ...anomaly, runId: e.runId, analyzedAt: e.analyzedAt },
        };
      }),
    );
  }
}
