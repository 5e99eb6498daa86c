import type { FunnelStage, Rollout } from '../../domain/rollout';
import type { TransferStats } from '../../domain/transfer-stats';

/** What only the single-rollout read shows: computed from every execution of the rollout. */
export interface RolloutDetail {
  readonly funnels: readonly Record<FunnelStage, number>[];
  readonly bytes: { readonly total: TransferStats; readonly waves: readonly TransferStats[] };
}

/**
 * How the API shows a rollout: its waves side by side, with (in the detail view) each wave's
 * funnel and `bytes` (sent, saved by deltas, devices per transfer mode), and the rollout's. A wave
 * with telemetry gates shows them and, once checked, what each found (`gateResults`).
 */
export function rolloutView(rollout: Rollout, detail?: RolloutDetail) {
  return {
    rolloutId: rollout.rolloutId,
    releaseId: rollout.releaseId,
    version: rollout.version,
    operation: rollout.operation,
    status: rollout.status,
    target: rollout.target,
    failurePolicy: rollout.failurePolicy,
    haltReason: rollout.haltReason ?? null,
    currentWave: rollout.currentWave + 1,
    excludedCount: rollout.excludedCount,
    rollbackOf: rollout.rollbackOf ?? null,
    createdAt: rollout.createdAt,
    createdBy: rollout.createdBy,
    ...(detail ? { bytes: detail.bytes.total } : {}),
    waves: rollout.waves.map((w) => ({
      wave: w.index + 1,
      status: w.status,
      deviceCount: w.deviceCount,
      soakSeconds: w.soakSeconds,
      successThreshold: w.successThreshold,
      maxFailures: w.maxFailures,
      requireApproval: w.requireApproval,
      jobId: w.jobId ?? null,
      startedAt: w.startedAt ?? null,
      endedAt: w.endedAt ?? null,
      // Only on waves that declare telemetry gates, with what they found once checked.
      ...(w.gates ? { gates: w.gates, gateResults: w.gateResults ?? null } : {}),
      ...(detail ? { funnel: detail.funnels[w.index], bytes: detail.bytes.waves[w.index] } : {}),
    })),
  };
}
