import type { AnomalyPage, FleetHealthReader } from '../ports/fleet-health-reader';

/** `GET /fleet/anomalies`: one page of the devices the fleet analysis flags, by device id. */
export const makeListAnomalies =
  (ports: { health: FleetHealthReader }) =>
  (query: { readonly limit: number; readonly cursor?: string }): Promise<AnomalyPage> =>
    ports.health.listAnomalies(query.limit, query.cursor);
