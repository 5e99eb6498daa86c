import { describe, expect, it } from 'vitest';
import { StepRequest } from '../../functions/rollout-steps/schemas';

describe('StepRequest', () => {
  it.each([
    { step: 'plan-deltas', rolloutId: 'ro-0123456789ab' },
    { step: 'next', rolloutId: 'ro-0123456789ab' },
    { step: 'start-wave', rolloutId: 'ro-0123456789ab', waveIndex: 0 },
    { step: 'check-wave', rolloutId: 'ro-0123456789ab', waveIndex: 2, phase: 'gate' },
    { step: 'park', rolloutId: 'ro-0123456789ab', taskToken: 't', kind: 'approval' },
    { step: 'finish', rolloutId: 'ro-0123456789ab', outcome: 'halted', reason: 'Wave 1: 2 failed' },
  ])('accepts what the state machine sends: %j', (request) => {
    expect(StepRequest.parse(request)).toEqual(request);
  });

  it('refuses an unknown step', () => {
    expect(StepRequest.safeParse({ step: 'jump', rolloutId: 'ro-0123456789ab' }).success).toBe(false);
  });
});
