import { describe, expect, it } from 'vitest';
import { FinishRequest, StepRequest } from '../../functions/rollout-steps/schemas';

describe('StepRequest', () => {
  it.each([
    { step: 'plan-deltas', rolloutId: 'ro-0123456789ab' },
    { step: 'next', rolloutId: 'ro-0123456789ab' },
    { step: 'start-wave', rolloutId: 'ro-0123456789ab', waveIndex: 0 },
    { step: 'check-wave', rolloutId: 'ro-0123456789ab', waveIndex: 2, phase: 'gate' },
    { step: 'park', rolloutId: 'ro-0123456789ab', taskToken: 't', kind: 'approval' },
  ])('accepts what the state machine sends: %j', (request) => {
    expect(StepRequest.parse(request)).toEqual(request);
  });

  it('refuses an unknown step', () => {
    expect(StepRequest.safeParse({ step: 'jump', rolloutId: 'ro-0123456789ab' }).success).toBe(false);
  });

  it('refuses finish, which the finish function takes', () => {
    expect(
      StepRequest.safeParse({ step: 'finish', rolloutId: 'ro-0123456789ab', outcome: 'succeeded' }).success,
    ).toBe(false);
  });
});

describe('FinishRequest', () => {
  it.each([
    { step: 'finish', rolloutId: 'ro-0123456789ab', outcome: 'halted', reason: 'Wave 1: 2 failed' },
    { step: 'finish', rolloutId: 'ro-0123456789ab', outcome: 'succeeded' },
  ])('accepts what the state machine sends: %j', (request) => {
    expect(FinishRequest.parse(request)).toEqual(request);
  });

  it('refuses an outcome other than succeeded or halted', () => {
    expect(
      FinishRequest.safeParse({ step: 'finish', rolloutId: 'ro-0123456789ab', outcome: 'aborted' }).success,
    ).toBe(false);
  });
});
