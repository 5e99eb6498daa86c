import type { AlertV1 } from '../../contract/telemetry';
import type { AlertNotifier } from '../ports/alert-notifier';
import type { TelemetryDevice } from '../ports/telemetry-store';
import type { EventBridgeApi } from '../shared/aws-api/events';

/** The source and detail type of device alerts on the default bus (docs/architecture.md). */
export const FLEET_EVENT_SOURCE = 'edgeops.fleet';
export const DEVICE_ALERT_DETAIL_TYPE = 'Device Alert';

/**
 * Announces alerts on the account's default EventBridge bus: `{ deviceId, site, region,
 * hardwareType, cohort?, receivedAt, ...AlertV1 fields }`, so a rule can route by severity or site.
 */
export class EventBridgeAlertNotifier implements AlertNotifier {
  constructor(private readonly events: Pick<EventBridgeApi, 'putEvents'>) {}

  async alertRaised(device: TelemetryDevice, alert: AlertV1, receivedAt: string): Promise<void> {
    await this.events.putEvents([
      {
        source: FLEET_EVENT_SOURCE,
        detailType: DEVICE_ALERT_DETAIL_TYPE,
        detail: {
          ...alert,
          deviceId: device.deviceId,
          site: device.site,
          region: device.region,
          hardwareType: device.hardwareType,
          ...(device.cohort === undefined ? {} : { cohort: device.cohort }),
          receivedAt,
        },
      },
    ]);
  }
}
