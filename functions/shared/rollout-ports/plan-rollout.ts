/** Planning a rollout (a preview): the stores and the target resolver, no state machine. */
import { makePlanRollout } from '../../use-cases/rollouts/plan-rollout';
import { once } from '../once';
import { releases, rollouts } from './stores';
import { targets } from './targets';

export const planRollout = once(() =>
  makePlanRollout({ releases: releases(), targets: targets(), rollouts: rollouts() }),
);
