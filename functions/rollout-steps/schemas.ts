import * as z from '../../contract/zod-mini';

const rolloutId = z.string().check(z.regex(/^ro-[0-9a-f]{12}$/));
const waveIndex = z.number().check(z.int(), z.gte(0), z.lte(99));

/**
 * What the rollout state machine sends the steps function (V1); each state names its step. The
 * last step, `finish`, has a function of its own (FinishRequest).
 */
export const StepRequest = z.discriminatedUnion('step', [
  z.object({
    step: z.literal('write-executions'),
    rolloutId,
    piece: z.number().check(z.int(), z.gte(0), z.lte(99_999)),
  }),
  z.object({ step: z.literal('plan-deltas'), rolloutId }),
  z.object({ step: z.literal('next'), rolloutId }),
  z.object({ step: z.literal('start-wave'), rolloutId, waveIndex }),
  z.object({
    step: z.literal('add-wave-devices'),
    rolloutId,
    waveIndex,
    // A page cursor the previous page handed out (opaque), or null for the first page.
    cursor: z.nullish(z.string().check(z.maxLength(2048))),
  }),
  z.object({ step: z.literal('create-wave-job'), rolloutId, waveIndex }),
  z.object({ step: z.literal('check-wave'), rolloutId, waveIndex, phase: z.enum(['progress', 'gate']) }),
  z.object({
    step: z.literal('park'),
    rolloutId,
    taskToken: z.string().check(z.minLength(1)),
    kind: z.enum(['pause', 'approval']),
  }),
  z.object({ step: z.literal('end-wave'), rolloutId, waveIndex }),
  z.object({
    step: z.literal('fail'),
    rolloutId,
    // What the Catch caught: Step Functions' error name and cause (a Lambda's is its error as JSON).
    error: z.object({ Error: z.optional(z.string()), Cause: z.optional(z.string()) }),
  }),
]);

/** What the rollout state machine sends the finish function (V1) when a run ends. */
export const FinishRequest = z.object({
  step: z.literal('finish'),
  rolloutId,
  outcome: z.enum(['succeeded', 'halted']),
  reason: z.optional(z.string().check(z.maxLength(2000))),
});
