import type { AlertV1 } from '../../contract/telemetry';
import { ALERT_RETENTION_DAYS, expiresAfterDays } from '../domain/telemetry';
import type { AlertNotifier } from '../ports/alert-notifier';
import type { Clock } from '../ports/clock';
import type { TelemetryStore } from '../ports/telemetry-store';

/** An alert as its SQS message brought it: the device is the topic's, set by the rule. */
export interface AlertMessage {
  readonly messageId: string;
  readonly deviceId: string;
  readonly alert: AlertV1;
}

export type AlertOutcome = 'recorded' | 'duplicate' | 'unknown-device';

/**
 * Records an alert a device published (docs/architecture.md, "Telemetry and alerts"): the registered
 * device is read (its site, region and hardware type go with the event), the `ALERT#<alertId>`
 * item is put if absent, then the alert goes to EventBridge. A resend of the alert by the device
 * (another SQS message) writes and announces nothing. A retry of the same message (say EventBridge
 * failed) passes the put again and announces it: at least once, as EventBridge delivers anyway.
 */
export const makeRecordAlert =
  (ports: { readonly store: TelemetryStore; readonly notifier: AlertNotifier; readonly clock: Clock }) =>
  async ({ messageId, deviceId, alert }: AlertMessage): Promise<AlertOutcome> => {
    const device = await ports.store.getDevice(deviceId);
    if (!device) return 'unknown-device';
    const now = ports.clock.now();
    const receivedAt = now.toISOString();
    const stored = await ports.store.putAlert({
      deviceId,
      alert,
      receivedAt,
      expiresAt: expiresAfterDays(now, ALERT_RETENTION_DAYS),
      ingestMessageId: messageId,
    });
    if (!stored) return 'duplicate';
    await ports.notifier.alertRaised(device, alert, receivedAt);
    return 'recorded';
  };
