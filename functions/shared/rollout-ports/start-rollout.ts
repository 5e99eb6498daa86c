/** Starting a rollout, and rolling one back (which starts a rollout to the previous release). */
import { makeRollbackRollout } from '../../use-cases/rollouts/rollback-rollout';
import { makeStartRollout } from '../../use-cases/rollouts/start-rollout';
import { once } from '../once';
import { orchestrator } from './orchestrator';
import { plans } from './plans';
import { clock, releases, rollouts } from './stores';
import { targets } from './targets';
import { trustStore } from './trust-repository';

export const startRollout = once(() =>
  makeStartRollout({
    releases: releases(),
    targets: targets(),
    rollouts: rollouts(),
    orchestrator: orchestrator(),
    clock,
    trust: trustStore(),
    plans: plans(),
  }),
);
export const rollbackRollout = once(() =>
  makeRollbackRollout({ rollouts: rollouts(), releases: releases(), startRollout: startRollout() }),
);
