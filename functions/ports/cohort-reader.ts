import type { CohortDevice, CohortEntry } from '../domain/cohort-statistics';

export interface CohortPage {
  readonly cohorts: readonly CohortEntry[];
  /** Where the next page starts; absent on the last page. */
  readonly cursor?: string;
}

/**
 * Reads the fleet a cohort at a time, for the fleet analysis: the COHORTS entries a page at a
 * time, and one cohort's devices (work bounded by the cohort's size, never the fleet's).
 */
export interface CohortReader {
  /** At most `limit` COHORTS entries after `cursor` (a cursor this reader handed out). */
  listCohorts(limit: number, cursor?: string): Promise<CohortPage>;
  /** Every device of the cohort, with its latest health, metrics and anomaly state. */
  readCohort(cohort: string): Promise<CohortDevice[]>;
}
