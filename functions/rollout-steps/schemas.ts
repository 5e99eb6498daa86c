import { z } from 'zod';

const rolloutId = z.string().regex(/^ro-[0-9a-f]{12}$/);
const waveIndex = z.number().int().min(0).max(99);

/** What the rollout state machine sends the steps function (V1); each state names its step. */
export const StepRequest = z.discriminatedUnion('step', [
  z.object({ step: z.literal('plan-deltas'), rolloutId }),
  z.object({ step: z.literal('next'), rolloutId }),
  z.object({ step: z.literal('start-wave'), rolloutId, waveIndex }),
  z.object({ step: z.literal('check-wave'), rolloutId, waveIndex, phase: z.enum(['progress', 'gate']) }),
  z.object({
    step: z.literal('park'),
    rolloutId,
    taskToken: z.string().min(1),
    kind: z.enum(['pause', 'approval']),
  }),
  z.object({
    step: z.literal('finish'),
    rolloutId,
    outcome: z.enum(['succeeded', 'halted']),
    reason: z.string().max(2000).optional(),
  }),
]);
