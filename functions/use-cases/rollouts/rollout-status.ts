import { RolloutNotFoundError } from '../../domain/errors';
import {
  type DeviceExecution,
  type FunnelStage,
  funnelOf,
  type JobExecutionStatus,
  type Rollout,
} from '../../domain/rollout';
import { type TransferStats, transferStatsOf } from '../../domain/transfer-stats';
import type { JobDispatcher } from '../../ports/job-dispatcher';
import type { RolloutStore } from '../../ports/rollout-store';

export interface RolloutStatusView {
  readonly rollout: Rollout;
  readonly funnels: readonly Record<FunnelStage, number>[];
  /** Bytes sent and saved by deltas, for the rollout and per wave. */
  readonly bytes: { readonly total: TransferStats; readonly waves: readonly TransferStats[] };
}

async function jobStatusesOf(jobs: JobDispatcher, rollout: Rollout) {
  const statuses = new Map<string, JobExecutionStatus>();
  for (const wave of rollout.waves) {
    if (!wave.jobId) continue;
    for (const [deviceId, status] of await jobs.executionStatuses(wave.jobId)) statuses.set(deviceId, status);
  }
  return statuses;
}

/**
 * A rollout with a funnel per wave (pending → queued → downloading → installing → rebooting →
 * healthy / failed / rolled-back) and the bytes its devices fetched and deltas saved.
 */
export const makeGetRolloutStatus =
  ({ rollouts, jobs }: { rollouts: RolloutStore; jobs: JobDispatcher }) =>
  async (rolloutId: string): Promise<RolloutStatusView> => {
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const [executions, statuses] = await Promise.all([
      rollouts.listExecutions(rolloutId),
      jobStatusesOf(jobs, rollout),
    ]);
    return {
      rollout,
      funnels: funnelOf(rollout.waves.length, executions, statuses),
      bytes: transferStatsOf(rollout.waves.length, executions),
    };
  };

export interface RolloutDevicesQuery {
  readonly wave?: number;
  readonly stage?: FunnelStage;
  readonly limit: number;
  /** Opaque: the offset of the next page. */
  readonly cursor?: string;
}

/** Per-device status of a rollout, filtered by wave and stage, a page at a time. */
export const makeListRolloutDevices =
  ({ rollouts }: { rollouts: RolloutStore }) =>
  async (rolloutId: string, query: RolloutDevicesQuery) => {
    if (!(await rollouts.getRollout(rolloutId))) throw new RolloutNotFoundError(rolloutId);
    const executions: DeviceExecution[] = (await rollouts.listExecutions(rolloutId, query.wave)).filter(
      (e) => query.stage === undefined || e.stage === query.stage,
    );
    executions.sort((a, b) => a.waveIndex - b.waveIndex || (a.deviceId < b.deviceId ? -1 : 1));
    const offset = query.cursor ? Number.parseInt(query.cursor, 36) : 0;
    const items = executions.slice(offset, offset + query.limit);
    const next = offset + items.length;
    return { items, ...(next < executions.length ? { nextCursor: next.toString(36) } : {}) };
  };
