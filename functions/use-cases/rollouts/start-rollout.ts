import { randomBytes } from 'node:crypto';
import { RolloutStateError } from '../../domain/errors';
import { basesOf, type DeviceExecution, type Rollout } from '../../domain/rollout';
import { countsByWave } from '../../domain/wave-counters';
import type { Clock } from '../../ports/clock';
import type { RolloutOrchestrator } from '../../ports/rollout-orchestrator';
import { PLAN_PIECE_SIZE, type RolloutPlanStore } from '../../ports/rollout-plan-store';
import type { RolloutStore } from '../../ports/rollout-store';
import type { TrustStore } from '../../ports/trust-repository';
import { makePlanRollout, type PlanPorts, type RolloutRequest } from './plan-rollout';

export interface StartRolloutOptions {
  readonly operation?: Rollout['operation'];
  readonly rollbackOf?: string;
}

/**
 * Starts a rollout:
 * 0. refuses (409) before the root ceremony: nothing could be signed, so devices would refuse it;
 * 1. plans it exactly as the preview does;
 * 2. writes the plan (one execution per planned device) in pieces, and the rollout with its
 *    waves' counters and the base versions its devices run (for delta planning);
 * 3. starts the orchestrator. Its first steps write the executions and claim the devices, a
 *    piece at a time; then it runs the waves.
 */
export const makeStartRollout = (
  ports: PlanPorts & {
    rollouts: RolloutStore;
    orchestrator: RolloutOrchestrator;
    clock: Clock;
    trust: Pick<TrustStore, 'getState'>;
    plans: RolloutPlanStore;
  },
) => {
  const plan = makePlanRollout(ports);
  return async (request: RolloutRequest, actor: string, options: StartRolloutOptions = {}) => {
    if (!(await ports.trust.getState())?.versions)
      throw new RolloutStateError(
        'No release trust yet: run the root ceremony (npm run trust -- init) before the first rollout',
      );
    const planned = await plan(request);
    const rolloutId = `ro-${randomBytes(6).toString('hex')}`;
    const rollout: Rollout = {
      rolloutId,
      releaseId: planned.release.releaseId,
      version: planned.release.version,
      operation: options.operation ?? 'install',
      target: request.target,
      failurePolicy: request.failurePolicy,
      status: 'running',
      currentWave: -1,
      waves: planned.waves.map((w, i) => {
        const spec = request.waves[i] ?? request.waves[request.waves.length - 1];
        if (!spec) throw new Error('wave spec missing');
        return { ...spec, index: w.index, deviceCount: w.deviceIds.length, status: 'pending' as const };
      }),
      createdAt: ports.clock.now().toISOString(),
      createdBy: actor,
      excludedCount: planned.excluded.length,
      ...(options.rollbackOf ? { rollbackOf: options.rollbackOf } : {}),
    };
    const executions: DeviceExecution[] = planned.waves.flatMap((wave) =>
      wave.deviceIds.map((deviceId) => {
        const device = planned.devices.get(deviceId);
        return {
          rolloutId,
          deviceId,
          waveIndex: wave.index,
          targetVersion: planned.release.version,
          hardwareType: device?.hardwareType ?? 'unknown',
          site: device?.site ?? 'unknown',
          ...(device?.firmwareVersion ? { fromVersion: device.firmwareVersion } : {}),
          stage: 'pending' as const,
          lastSeq: -1,
        };
      }),
    );
    const pieces: DeviceExecution[][] = [];
    for (let i = 0; i < executions.length; i += PLAN_PIECE_SIZE)
      pieces.push(executions.slice(i, i + PLAN_PIECE_SIZE));
    await ports.plans.putPieces(rolloutId, pieces);
    await ports.rollouts.createRollout(
      { ...rollout, planPieces: pieces.length, bases: basesOf(executions) },
      countsByWave(rollout.waves.length, executions),
    );
    await ports.orchestrator.start(rolloutId);
    return { rollout, excluded: planned.excluded };
  };
};
