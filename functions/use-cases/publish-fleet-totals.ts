import {
  addToTotals,
  type CohortEntry,
  type CohortResult,
  type FleetTotals,
  isCohortSummary,
  NO_TOTALS,
} from '../domain/cohort-statistics';
import type { CohortReader } from '../ports/cohort-reader';
import type { FleetMetricsPublisher } from '../ports/fleet-metrics-publisher';

/** COHORTS entries per page, at most: one page is one Map of cohort analyses in the state machine. */
export const COHORTS_PER_PAGE = 50;

export interface CohortPageInput {
  readonly analyzedAt: string;
  /** The page just analyzed (empty before the first) and where the next one starts. */
  readonly cursor?: string;
  /** False once the last page was listed. */
  readonly more: boolean;
  readonly totals?: FleetTotals;
  /** The Map's results for the page just analyzed. */
  readonly results: readonly CohortResult[];
}

export interface CohortPageOutput {
  /** The next page's cohorts; empty when the run has seen every cohort. */
  readonly cohorts: readonly CohortEntry[];
  readonly cursor: string | null;
  readonly more: boolean;
  readonly totals: FleetTotals;
}

/**
 * Between two pages of the analysis: what the state machine carries stays this small (a cursor
 * and the totals), whatever the fleet's size.
 * 1. publish the analyzed page's cohort figures (one PutMetricData for up to 50 cohorts), of
 *    cohorts that still have devices;
 * 2. add them to the run's totals;
 * 3. list the next page of COHORTS entries, if there is one.
 */
export const makeNextCohortPage =
  (
    ports: { readonly cohorts: CohortReader; readonly metrics: FleetMetricsPublisher },
    options: { readonly cohortsPerPage?: number } = {},
  ) =>
  async (input: CohortPageInput): Promise<CohortPageOutput> => {
    // A cohort whose devices all moved on (a rollout changes their version) keeps its entry; its
    // metrics stop, so an empty cohort costs nothing in CloudWatch (each metric: $0.30 a month).
    const summaries = input.results.filter(isCohortSummary).filter((c) => c.devices > 0);
    if (summaries.length > 0) await ports.metrics.publishCohorts(summaries, new Date(input.analyzedAt));
    const totals = addToTotals(input.totals ?? NO_TOTALS, input.results);
    if (!input.more) return { cohorts: [], cursor: null, more: false, totals };
    const limit = Math.min(COHORTS_PER_PAGE, options.cohortsPerPage ?? COHORTS_PER_PAGE);
    const page = await ports.cohorts.listCohorts(limit, input.cursor);
    return { cohorts: page.cohorts, cursor: page.cursor ?? null, more: page.cursor !== undefined, totals };
  };

/** The run's last step: the fleet's totals, which the alarms watch, at the analysis time. */
export const makePublishFleetTotals =
  (ports: { readonly metrics: FleetMetricsPublisher }) =>
  async (input: { readonly analyzedAt: string; readonly totals: FleetTotals }): Promise<FleetTotals> => {
    await ports.metrics.publishFleetTotals(input.totals, new Date(input.analyzedAt));
    return input.totals;
  };
