import { type FleetSummary, type GroupByField, summarizeFleet } from '../domain/fleet-summary';
import type { FleetHealthReader } from '../ports/fleet-health-reader';

/**
 * `GET /fleet/summary`:
 * 1. read every COHORTS entry (bounded by the number of cohorts, never by devices);
 * 2. group their statistics by `groupBy` (domain/fleet-summary.ts).
 */
export const makeSummarizeFleet =
  (ports: { health: FleetHealthReader }) =>
  async (groupBy: readonly GroupByField[]): Promise<FleetSummary> =>
    summarizeFleet(await ports.health.listCohorts(), groupBy);
