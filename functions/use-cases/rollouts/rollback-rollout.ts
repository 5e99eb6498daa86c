import { RolloutNotFoundError, RolloutStateError } from '../../domain/errors';
import type { Rollout } from '../../domain/rollout';
import type { ReleaseCatalog } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import type { RolloutRequest } from './plan-rollout';
import type { makeStartRollout } from './start-rollout';

export interface RollbackResult {
  readonly rollouts: readonly Rollout[];
  readonly skipped: readonly { readonly deviceId: string; readonly reason: string }[];
}

/**
 * Fleet rollback of a finished rollout:
 * 1. finds the devices it updated (they run its version and ran another before);
 * 2. groups them by the version they ran before, and finds the release of each such version;
 * 3. starts one `rollback` rollout per previous release over exactly those devices, in one wave.
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
    if (!['succeeded', 'halted', 'aborted'].includes(rollout.status)) {
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
        waves: [
          {
            size: { percent: 100 },
            soakSeconds: 0,
            successThreshold: 0,
            maxFailures: deviceIds.length,
            requireApproval: false,
          },
        ],
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
