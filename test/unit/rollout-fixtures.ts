import { basesOf, type DeviceExecution, type Rollout, type Wave } from '../../functions/domain/rollout';
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

export const FIXTURE_ROLLOUT_ID = 'ro-0123456789ab';

/** A running wave of one device, taking every device (override what a test is about). */
export const waveFixture = (index: number, patch: Partial<Wave> = {}): Wave => ({
  index,
  size: { percent: 100 },
  soakSeconds: 0,
  successThreshold: 100,
  maxFailures: 0,
  requireApproval: false,
  deviceCount: 1,
  status: 'running',
  ...patch,
});

/** A running install of rel-2.0.0 with one wave (override what a test is about). */
export const rolloutFixture = (patch: Partial<Rollout> = {}): Rollout => ({
  rolloutId: FIXTURE_ROLLOUT_ID,
  releaseId: 'rel-2.0.0',
  version: '2.0.0',
  operation: 'install',
  target: { filter: {} },
  failurePolicy: 'halt',
  status: 'running',
  waves: [waveFixture(0)],
  currentWave: 0,
  createdAt: '2026-01-01T00:00:00Z',
  createdBy: 'ops',
  excludedCount: 0,
  ...patch,
});
