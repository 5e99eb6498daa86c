import type { OtaEventV1 } from '../../contract/ota';
import type {
  DeviceExecution,
  FailedSample,
  FunnelStage,
  JobExecutionStatus,
  Rollout,
  RolloutStatus,
  Wave,
} from '../domain/rollout';
import type { WaveCounts } from '../domain/wave-counters';

export interface RolloutPage {
  readonly items: readonly Rollout[];
  readonly nextCursor?: string;
}

/** Which executions a page of a rollout's devices keeps: any of these (wave, bucket) sets. */
export interface ExecutionFilter {
  readonly waveIndexes: readonly number[];
  readonly buckets: readonly FunnelStage[];
}

export interface ExecutionPage {
  readonly items: readonly DeviceExecution[];
  readonly nextCursor?: string;
}

/**
 * Rollouts, their per-device executions, per-wave counters, and which rollout holds each device.
 * Reads of a wave's progress cost a few items whatever its size: the counters are kept by the
 * same atomic writes that change executions.
 */
export interface RolloutStore {
  /**
   * Writes the rollout and its waves' counters (`counts`, by wave index). Its executions come
   * after, a bounded piece at a time (`addExecutions`), before its first wave starts.
   */
  createRollout(rollout: Rollout, counts: readonly WaveCounts[]): Promise<void>;
  /**
   * Writes executions of a rollout created before, and claims their devices for it. A claim
   * counts only while its rollout is active, so ending a rollout lets go of its devices with no
   * per-device write. A device no longer registered is not claimed; its execution is recorded
   * failed. Idempotent before the rollout's first wave starts.
   */
  addExecutions(rolloutId: string, executions: readonly DeviceExecution[]): Promise<void>;
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
  /** Every execution of the rollout (or one wave): O(devices); only for planning-time reads. */
  listExecutions(rolloutId: string, waveIndex?: number): Promise<DeviceExecution[]>;
  /**
   * A page of executions in (wave, device id) order, of one wave or all, keeping only those that
   * match one of `filters` (all if none).
   */
  pageExecutions(
    rolloutId: string,
    options: {
      readonly waveIndex?: number;
      readonly filters?: readonly ExecutionFilter[];
      readonly limit: number;
      readonly cursor?: string;
    },
  ): Promise<ExecutionPage>;
  /** Each wave's counters, by wave index. */
  waveCounts(rolloutId: string): Promise<WaveCounts[]>;
  /** Up to `limit` devices of the wave counted as failed or rolled back, with their reasons. */
  failedSample(rolloutId: string, waveIndex: number, limit: number): Promise<FailedSample>;
  /**
   * Applies a device's OTA event to its execution, and its wave's counters, when the event is
   * newer (by seq) than the last applied one. Returns false (writing nothing) for stale, duplicate
   * or unknown events.
   */
  applyOtaEvent(event: OtaEventV1, waveIndex: number): Promise<boolean>;
  /**
   * Records the status AWS IoT reported for a device's job execution, and its wave's counters.
   * Returns false (writing nothing) for an unknown execution or a status that changes nothing.
   */
  applyJobExecutionStatus(
    rolloutId: string,
    waveIndex: number,
    deviceId: string,
    status: JobExecutionStatus,
  ): Promise<boolean>;
  /** Device id → rollout id, for those of `deviceIds` held by an active rollout. */
  activeClaims(deviceIds: readonly string[]): Promise<Map<string, string>>;
}
