import type { RolloutTarget } from '../domain/rollout';
import type { PlanDevice } from '../domain/wave-plan';

export interface TargetDevice extends PlanDevice {
  readonly region: string;
  readonly firmwareVersion?: string;
}

/** Turns a rollout target (thing group, filter, or device list) into registered devices. */
export interface TargetResolver {
  resolve(target: RolloutTarget): Promise<TargetDevice[]>;
}
