import type { AlertV1 } from '../../contract/telemetry';
import type { TelemetryDevice } from './telemetry-store';

/** Where a newly recorded device alert is announced to subscribers (EventBridge in AWS). */
export interface AlertNotifier {
  alertRaised(device: TelemetryDevice, alert: AlertV1, receivedAt: string): Promise<void>;
}
