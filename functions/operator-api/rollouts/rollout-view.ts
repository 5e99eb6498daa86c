import * as z from '../../../contract/zod-mini';
import type { FunnelStage, Rollout } from '../../domain/rollout';
import type { TransferStats } from '../../domain/transfer-stats';

/** What only the single-rollout read shows: computed from every execution of the rollout. */
export interface RolloutDetail {
  readonly funnels: readonly Record<FunnelStage, number>[];
  readonly bytes: { readonly total: TransferStats; readonly waves: readonly TransferStats[] };
}

const TransferStatsView = z.object({
  sent: z.number(),
  saved: z.number(),
  deltaDevices: z.number(),
  fullDevices: z.number(),
});
const nullableString = z.nullable(z.string());

/** The shape `rolloutView` returns: typed against it, so the view and the OpenAPI document agree. */
export const RolloutView = z.object({
  rolloutId: z.string(),
  releaseId: z.string(),
  version: z.string(),
  operation: z.enum(['install', 'rollback']),
  status: z.enum([
    'running',
    'pausing',
    'paused',
    'awaiting-approval',
    'succeeded',
    'halted',
    'aborted',
    'failed',
  ]),
  target: z.union([
    z.object({ thingGroup: z.string() }),
    z.object({ deviceIds: z.readonly(z.array(z.string())) }),
    z.object({
      filter: z.object({
        site: z.optional(z.string()),
        region: z.optional(z.string()),
        hardwareType: z.optional(z.string()),
        currentVersion: z.optional(z.string()),
      }),
    }),
  ]),
  failurePolicy: z.enum(['halt', 'rollback']),
  haltReason: nullableString,
  /** 1-based; 0 before the first wave starts. */
  currentWave: z.number(),
  excludedCount: z.number(),
  rollbackOf: nullableString,
  createdAt: z.string(),
  createdBy: z.string(),
  /** Detail view only. */
  bytes: z.optional(TransferStatsView),
  waves: z.array(
    z.object({
      wave: z.number(),
      status: z.enum(['pending', 'running', 'soaking', 'passed', 'failed', 'canceled']),
      deviceCount: z.number(),
      soakSeconds: z.number(),
      successThreshold: z.number(),
      maxFailures: z.number(),
      requireApproval: z.boolean(),
      jobId: nullableString,
      startedAt: nullableString,
      endedAt: nullableString,
      /** The wave's telemetry gates (as in the request), on waves that declare them. */
      gates: z.optional(z.readonly(z.array(z.unknown()))),
      /** What each gate found, once checked. */
      gateResults: z.optional(z.nullable(z.readonly(z.array(z.unknown())))),
      /** Detail view only: devices per stage. */
      funnel: z.optional(z.record(z.string(), z.number())),
      bytes: z.optional(TransferStatsView),
    }),
  ),
});
export type RolloutView = z.output<typeof RolloutView>;

/**
 * How the API shows a rollout: its waves side by side, with (in the detail view) each wave's
 * funnel and `bytes` (sent, saved by deltas, devices per transfer mode), and the rollout's. A wave
 * with telemetry gates shows them and, once checked, what each found (`gateResults`).
 */
export function rolloutView(rollout: Rollout, detail?: RolloutDetail): RolloutView {
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
