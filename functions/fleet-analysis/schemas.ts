import * as z from '../../contract/zod-mini';

const label = z.string().check(z.minLength(1), z.maxLength(64));
const count = z.number().check(z.int(), z.nonnegative());
const isoTime = z.string().check(z.refine((s) => Number.isFinite(Date.parse(s)), 'an ISO 8601 time'));
/** The execution's name: the run id every cohort of the run shares. */
const runId = z.string().check(z.minLength(1), z.maxLength(80));

export const CohortEntrySchema = z.object({
  cohort: z.string().check(z.minLength(1), z.maxLength(300)),
  region: z.string().check(z.maxLength(64)),
  site: label,
  hardwareType: label,
  version: label,
});

/** What the state machine's Map hands the cohort analysis (V1), one cohort per invocation. */
export const AnalyzeCohortRequest = z.object({ cohort: CohortEntrySchema, runId, analyzedAt: isoTime });

const Totals = z.object({
  cohorts: count,
  devices: count,
  fresh: count,
  connected: count,
  unhealthy: count,
  anomalous: count,
  failedCohorts: count,
});

const CohortSummarySchema = z.object({
  cohort: z.string(),
  site: z.string(),
  hardwareType: z.string(),
  version: z.string(),
  devices: count,
  fresh: count,
  connected: count,
  healthy: count,
  unhealthy: count,
  anomalous: count,
  scored: z.boolean(),
  memoryP95MiB: z.optional(z.number()),
  cpuP95Percent: z.optional(z.number()),
  flagged: count,
  cleared: count,
  deviceWrites: count,
});

/** A cohort whose analysis failed after its retries (the Map's Catch). */
const FailedCohort = z.object({ cohort: CohortEntrySchema, failed: z.literal(true) });

/** What the state machine sends the run's other steps (V1). */
export const FleetStepRequest = z.discriminatedUnion('step', [
  z.object({
    step: z.literal('next-page'),
    analyzedAt: isoTime,
    page: z.object({
      cursor: z.nullish(z.string().check(z.maxLength(2048))),
      more: z.boolean(),
      totals: z.nullish(Totals),
    }),
    results: z.array(z.union([CohortSummarySchema, FailedCohort])).check(z.maxLength(50)),
  }),
  z.object({ step: z.literal('publish-totals'), analyzedAt: isoTime, totals: Totals }),
]);
