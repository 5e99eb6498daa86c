import type { CohortSummary, FleetTotals } from '../domain/cohort-statistics';

/** Where the fleet analysis publishes its figures for dashboards and alarms (never per device). */
export interface FleetMetricsPublisher {
  /** Each cohort's figures, dimensioned by site, hardware type and version. */
  publishCohorts(cohorts: readonly CohortSummary[], at: Date): Promise<void>;
  /** The fleet's totals, without dimensions (what the alarms watch). */
  publishFleetTotals(totals: FleetTotals, at: Date): Promise<void>;
}
