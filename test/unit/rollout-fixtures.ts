import { basesOf, type DeviceExecution, type Rollout } from '../../functions/domain/rollout';
import { countsByWave } from '../../functions/domain/wave-counters';
import type { RolloutStore } from '../../functions/ports/rollout-store';

/**
 * A rollout with its executions already written, as `POST /rollouts` and the state machine's
 * first steps leave it (counters, base versions, executions and claims).
 */
export async function createRolloutWith(
  rollouts: RolloutStore,
  rollout: Rollout,
  executions: readonly DeviceExecution[],
): Promise<void> {
  await rollouts.createRollout(
    { bases: basesOf(executions), ...rollout },
    countsByWave(rollout.waves.length, executions),
  );
  await rollouts.addExecutions(rollout.rolloutId, executions);
}
