import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import type { Rollout, WaveSpec } from '../../domain/rollout';
import type { ReleaseCatalog } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import type { RolloutRequest } from './plan-rollout';
import type { makeStartRollout } from './start-rollout';

export interface RollbackResult {
  readonly rollouts: readonly Rollout[];
  readonly skipped: readonly { readonly deviceId: string; readonly reason: string }[];
}

/**
 * The one wave of a rollback rollout, and its gate: every device must be back, healthy on the
 * version it ran before; one that fails to go back halts the rollback, for a person to look at.
 */
export const ROLLBACK_WAVE: WaveSpec = {
  size: { percent: 100 },
  soakSeconds: 0,
  successThreshold: 100,
  maxFailures: 0,
  requireApproval: false,
};

/** Active rollback rollouts of `rolloutId` holding any of `deviceIds`. */
async function rollbacksUnderWay(rollouts: RolloutStore, rolloutId: string, deviceIds: readonly string[]) {
  const holders = new Set((await rollouts.activeClaims(deviceIds)).values());
  const found: string[] = [];
  for (const holder of holders) {
    if ((await rollouts.getRollout(holder))?.rollbackOf === rolloutId) found.push(holder);
  }
  return found;
}

/**
 * Fleet rollback of a finished rollout:
 * 1. finds the devices it updated (they run its version and ran another before);
 * 2. groups them by the version they ran before, and finds the release of each such version;
 * 3. refuses while a rollback of it is still running (the rollback policy may have started one);
 * 4. starts one `rollback` rollout per previous release over exactly those devices, in one wave
 *    that halts if any device fails to go back.
 * Devices whose previous version has no release are reported as skipped.
 */
export const makeRollbackRollout =
  (ports: {
    rollouts: RolloutStore;
    releases: ReleaseCatalog;
    startRollout: ReturnType<typeof makeStartRollout>;
  }) =>
  async (rolloutId: string, actor: string): Promise<RollbackResult> => {
    const rollout = await ports.rollouts.getRollout(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    if (!['succeeded', 'halted', 'aborted', 'failed'].includes(rollout.status)) {
      throw new RolloutStateError(`Rollout ${rolloutId} is ${rollout.status}: abort it before rolling back`);
    }
    const byPrevious = new Map<string, string[]>();
    for (const execution of await ports.rollouts.listExecutions(rolloutId)) {
      const updated =
        execution.runningVersion === rollout.version &&
        execution.fromVersion &&
        execution.fromVersion !== rollout.version;
      if (!updated || !execution.fromVersion) continue;
      byPrevious.set(execution.fromVersion, [
        ...(byPrevious.get(execution.fromVersion) ?? []),
        execution.deviceId,
      ]);
    }
    const rollingBack = await rollbacksUnderWay(ports.rollouts, rolloutId, [...byPrevious.values()].flat());
    if (rollingBack.length > 0) {
      throw new RolloutStateError(
        `Rollout ${rolloutId} is being rolled back already, by ${rollingBack.join(', ')}; wait for it to end`,
      );
    }
    const started: Rollout[] = [];
    const skipped: { deviceId: string; reason: string }[] = [];
    for (const [version, deviceIds] of byPrevious) {
      const release = await ports.releases.findByVersion(version);
      if (!release) {
        for (const deviceId of deviceIds)
          skipped.push({ deviceId, reason: `no release of version ${version}` });
        continue;
      }
      const request: RolloutRequest = {
        releaseId: release.releaseId,
        target: { deviceIds },
        waves: [ROLLBACK_WAVE],
        failurePolicy: 'halt',
        force: true,
      };
      const { rollout: rollback } = await ports.startRollout(request, actor, {
        operation: 'rollback',
        rollbackOf: rolloutId,
      });
      started.push(rollback);
    }
    return { rollouts: started, skipped };
  };
