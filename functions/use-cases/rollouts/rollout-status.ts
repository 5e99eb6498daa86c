import { RolloutNotFoundError } from '../../domain/errors';
import {
  type DeviceExecution,
  displayedFunnel,
  displayedStage,
  FUNNEL_STAGES,
  type FunnelStage,
  type Rollout,
} from '../../domain/rollout';
import type { TransferStats } from '../../domain/transfer-stats';
import { bucketOf, emptyCounts, type WaveCounts } from '../../domain/wave-counters';
import type { ExecutionFilter, RolloutStore } from '../../ports/rollout-store';

export interface RolloutStatusView {
  readonly rollout: Rollout;
  readonly funnels: readonly Record<FunnelStage, number>[];
  /** Bytes sent and saved by deltas, for the rollout and per wave. */
  readonly bytes: { readonly total: TransferStats; readonly waves: readonly TransferStats[] };
}

const bytesOf = (c: WaveCounts): TransferStats => ({
  sent: c.bytesSent,
  saved: c.bytesSaved,
  deltaDevices: c.deltaDevices,
  fullDevices: c.fullDevices,
});

/**
 * A rollout with a funnel per wave (pending → queued → downloading → installing → rebooting →
 * healthy / failed / rolled-back) and the bytes its devices fetched and deltas saved. Reads the
 * rollout and its waves' counters: a few items at any fleet size.
 */
export const makeGetRolloutStatus =
  ({ rollouts }: { rollouts: RolloutStore }) =>
  async (rolloutId: string): Promise<RolloutStatusView> => {
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const stored = await rollouts.waveCounts(rolloutId);
    const counts = rollout.waves.map((w) => stored[w.index] ?? { ...emptyCounts(), pending: w.deviceCount });
    const waves = counts.map(bytesOf);
    const total = waves.reduce(
      (sum, w) => ({
        sent: sum.sent + w.sent,
        saved: sum.saved + w.saved,
        deltaDevices: sum.deltaDevices + w.deltaDevices,
        fullDevices: sum.fullDevices + w.fullDevices,
      }),
      { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 },
    );
    return {
      rollout,
      funnels: rollout.waves.map((w, i) => displayedFunnel(w, counts[i] ?? emptyCounts())),
      bytes: { total, waves },
    };
  };

export interface RolloutDevicesQuery {
  readonly wave?: number;
  readonly stage?: FunnelStage;
  readonly limit: number;
  /** Opaque: where the next page starts. */
  readonly cursor?: string;
}

/**
 * Which stored buckets show as `stage` in each wave (see displayedStage): one filter per group of
 * waves that read alike, so a page query keeps exactly the devices the funnel counts there.
 */
function filtersFor(rollout: Rollout, stage: FunnelStage, wave?: number): ExecutionFilter[] {
  const byBuckets = new Map<string, number[]>();
  for (const w of rollout.waves) {
    if (wave !== undefined && w.index !== wave) continue;
    const buckets = FUNNEL_STAGES.filter((b) => displayedStage(w, b) === stage);
    const key = buckets.join(',');
    byBuckets.set(key, [...(byBuckets.get(key) ?? []), w.index]);
  }
  return [...byBuckets].map(([key, waveIndexes]) => ({
    waveIndexes,
    buckets: key === '' ? [] : (key.split(',') as FunnelStage[]),
  }));
}

/**
 * Per-device status of a rollout, filtered by wave and stage, a page at a time (a DynamoDB page,
 * not the whole rollout). Each device shows the stage its wave's funnel counts it under.
 */
export const makeListRolloutDevices =
  ({ rollouts }: { rollouts: RolloutStore }) =>
  async (rolloutId: string, query: RolloutDevicesQuery) => {
    const rollout = await rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    const page = await rollouts.pageExecutions(rolloutId, {
      ...(query.wave !== undefined ? { waveIndex: query.wave } : {}),
      ...(query.stage !== undefined ? { filters: filtersFor(rollout, query.stage, query.wave) } : {}),
      limit: query.limit,
      ...(query.cursor !== undefined ? { cursor: query.cursor } : {}),
    });
    const items: DeviceExecution[] = page.items.map((e) => {
      const wave = rollout.waves[e.waveIndex];
      const bucket = bucketOf(e);
      const shown = displayedStage(wave, bucket);
      if (shown === bucket && shown === e.stage) return e;
      const late = wave?.deadlinePassed && shown === 'failed' && bucket !== 'failed';
      return {
        ...e,
        stage: shown as DeviceExecution['stage'],
        ...(late ? { reason: `no result by the wave deadline (last stage ${bucket})` } : {}),
        ...(shown === 'failed' && !late && e.reason === undefined && e.jobStatus
          ? { reason: `job ${e.jobStatus}` }
          : {}),
      };
    });
    return { items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) };
  };
