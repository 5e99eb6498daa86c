import type { FunnelStage, Rollout } from '../../domain/rollout';

/** How the API shows a rollout: its waves with their funnels side by side. */
export function rolloutView(rollout: Rollout, funnels?: readonly Record<FunnelStage, number>[]) {
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
      ...(funnels ? { funnel: funnels[w.index] } : {}),
    })),
  };
}
