import type { DeviceAnomaly } from '../domain/anomaly';

/** A device flagged as unlike its peers, or cleared; `anomaly` is the flag as it was set. */
export interface DeviceAnomalyEvent {
  readonly kind: 'flagged' | 'cleared';
  readonly deviceId: string;
  readonly anomaly: DeviceAnomaly;
  /** The analysis run that decided it. */
  readonly runId: string;
  readonly analyzedAt: string;
}

/** Tells subscribers (operators' rules) what the fleet analysis decided. */
export interface FleetEventPublisher {
  publish(events: readonly DeviceAnomalyEvent[]): Promise<void>;
}
