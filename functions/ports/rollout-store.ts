import type { OtaEventV1 } from '../domain/ota-contract';
import type { DeviceExecution, Rollout, RolloutStatus, Wave } from '../domain/rollout';

export interface RolloutPage {
  readonly items: readonly Rollout[];
  readonly nextCursor?: string;
}

/** Rollouts, their per-device executions, and which rollout holds each device. */
export interface RolloutStore {
  /**
   * Writes the rollout and its executions and claims every planned device for it. Throws
   * DeviceBusyError (and claims nothing) if another rollout claimed one of them meanwhile.
   */
  createRollout(rollout: Rollout, executions: readonly DeviceExecution[]): Promise<void>;
  getRollout(rolloutId: string): Promise<Rollout | undefined>;
  listRollouts(limit: number, cursor?: string): Promise<RolloutPage>;
  /**
   * Changes status (and optionally other fields) only if the current status is one of `from`;
   * throws RolloutStateError otherwise. Returns the updated rollout.
   */
  transition(
    rolloutId: string,
    from: readonly RolloutStatus[],
    change: Partial<Pick<Rollout, 'status' | 'haltReason' | 'currentWave'>> & { waves?: readonly Wave[] },
  ): Promise<Rollout>;
  /** Stores (or clears) the Step Functions task token the rollout waits on. */
  setTaskToken(rolloutId: string, token: string | undefined): Promise<void>;
  getTaskToken(rolloutId: string): Promise<string | undefined>;
  listExecutions(rolloutId: string, waveIndex?: number): Promise<DeviceExecution[]>;
  /** Marks a wave's devices `queued` (only those still `pending`). */
  queueWave(rolloutId: string, waveIndex: number, deviceIds: readonly string[]): Promise<void>;
  /**
   * Applies a device's OTA event to its execution when the event is newer (by seq) than the
   * last applied one. Returns false (writing nothing) for stale, duplicate or unknown events.
   */
  applyOtaEvent(event: OtaEventV1, waveIndex: number): Promise<boolean>;
  /** Frees devices so later rollouts may take them. */
  releaseDevices(rolloutId: string, deviceIds: readonly string[]): Promise<void>;
  /** Device id → rollout id, for those of `deviceIds` held by an active rollout. */
  activeClaims(deviceIds: readonly string[]): Promise<Map<string, string>>;
}
