import { ValidationError } from '../../domain/errors';
import type { RolloutTarget, WaveSpec } from '../../domain/rollout';
import { type ExcludedDevice, planWaves, type WavePlan } from '../../domain/wave-plan';
import type { ReleaseCatalog, ReleaseForRollout } from '../../ports/release-catalog';
import type { RolloutStore } from '../../ports/rollout-store';
import type { TargetDevice, TargetResolver } from '../../ports/target-resolver';

export interface RolloutRequest {
  readonly releaseId: string;
  readonly target: RolloutTarget;
  readonly waves: readonly WaveSpec[];
  readonly failurePolicy: 'halt' | 'rollback';
  /** Take devices held by another active rollout too. */
  readonly force: boolean;
}

export interface RolloutPlan extends WavePlan {
  readonly release: ReleaseForRollout;
  readonly devices: ReadonlyMap<string, TargetDevice>;
}

export interface PlanPorts {
  readonly releases: ReleaseCatalog;
  readonly targets: TargetResolver;
  readonly rollouts: Pick<RolloutStore, 'activeClaims'>;
}

/**
 * Plans who lands in which wave, without starting anything:
 * 1. the release must exist;
 * 2. the target must match registered devices;
 * 3. devices with no artifact for their hardware type in the release are left out, and at least
 *    one compatible device must remain;
 * 4. devices held by another active rollout are left out unless forced;
 * 5. the waves are planned deterministically, seeded by release and target.
 */
export const makePlanRollout =
  ({ releases, targets, rollouts }: PlanPorts) =>
  async (request: RolloutRequest): Promise<RolloutPlan> => {
    const release = await releases.getRelease(request.releaseId);
    if (!release) {
      throw new ValidationError(`Unknown release '${request.releaseId}'`, [
        { field: 'releaseId', message: 'no such release' },
      ]);
    }
    const devices = await targets.resolve(request.target);
    if (devices.length === 0) {
      throw new ValidationError('The target matches no registered device', [
        { field: 'target', message: 'empty' },
      ]);
    }
    const supported = new Set(Object.keys(release.components));
    const excluded: ExcludedDevice[] = [];
    const compatible = devices.filter((d) => {
      if (supported.has(d.hardwareType)) return true;
      excluded.push({
        deviceId: d.deviceId,
        reason: `release has no artifact for hardware type ${d.hardwareType}`,
      });
      return false;
    });
    if (compatible.length === 0) {
      throw new ValidationError(`No device in the target can run release ${release.releaseId}`, [
        { field: 'target', message: `no device of hardware type ${[...supported].join(', ')}` },
      ]);
    }
    const busy = await rollouts.activeClaims(compatible.map((d) => d.deviceId));
    const plan = planWaves({
      seed: `${release.releaseId}:${JSON.stringify(request.target)}`,
      devices: compatible,
      waves: request.waves,
      busy,
      force: request.force,
    });
    return {
      ...plan,
      excluded: [...excluded, ...plan.excluded],
      release,
      devices: new Map(compatible.map((d) => [d.deviceId, d])),
    };
  };
