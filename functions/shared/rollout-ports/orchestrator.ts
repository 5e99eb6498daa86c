/** The rollout state machine (Step Functions). */
import { sfn } from '#clients/sfn';
import { SfnRolloutOrchestrator } from '../../adapters/sfn-rollout-orchestrator';
import { requireEnv } from '../env';
import { once } from '../once';

export const orchestrator = once(
  () => new SfnRolloutOrchestrator(sfn, requireEnv('ROLLOUT_STATE_MACHINE_ARN')),
);
