import type { FleetSummaryCohort } from '../domain/fleet-summary';
import { type MetricFamily, renderExposition, type Sample } from '../domain/prometheus-exposition';
import type { FleetHealthReader } from '../ports/fleet-health-reader';

type Analyzed = FleetSummaryCohort & Required<Pick<FleetSummaryCohort, 'analyzedAt'>>;

/** The labels every cohort series carries: one series per cohort, never one per device. */
const cohortLabels = (c: FleetSummaryCohort) => ({
  region: c.region,
  site: c.site,
  hardware_type: c.hardwareType,
  version: c.version,
});

/**
 * The cohort statistics as Prometheus metric families. Cohorts the analysis has not visited yet
 * have no figures and are left out; `edgeops_cohort_analyzed_timestamp_seconds` lets an alert
 * rule catch statistics that stopped being refreshed.
 */
export function cohortMetricFamilies(cohorts: readonly FleetSummaryCohort[]): MetricFamily[] {
  const analyzed = cohorts.filter((c): c is Analyzed => c.analyzedAt !== undefined);
  const perCohort = (value: (c: Analyzed) => number | undefined): Sample[] =>
    analyzed.flatMap((c) => {
      const v = value(c);
      return v === undefined ? [] : [{ labels: cohortLabels(c), value: v }];
    });
  const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({
    name,
    help,
    type: 'gauge',
    samples,
  });
  const perMetric = (stat: 'median' | 'p95'): Sample[] =>
    analyzed.flatMap((c) =>
      Object.entries(c.metrics ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([metric, spread]) => ({ labels: { ...cohortLabels(c), metric }, value: spread[stat] })),
    );
  return [
    gauge(
      'edgeops_cohort_devices',
      'Devices in the cohort at its latest analysis.',
      perCohort((c) => c.devices),
    ),
    gauge(
      'edgeops_cohort_connected',
      'Devices of the cohort connected at its latest analysis.',
      perCohort((c) => c.connected),
    ),
    gauge(
      'edgeops_cohort_health',
      'Devices of the cohort by the health of their latest window; unknown: no fresh telemetry.',
      analyzed.flatMap((c) =>
        (['healthy', 'degraded', 'unhealthy', 'unknown'] as const).map((state) => ({
          labels: { ...cohortLabels(c), state },
          value: c.health?.[state] ?? 0,
        })),
      ),
    ),
    gauge(
      'edgeops_cohort_anomalous',
      'Devices of the cohort flagged as unlike their peers.',
      perCohort((c) => c.anomalous),
    ),
    gauge(
      'edgeops_cohort_metric_median',
      "Median across the cohort's fresh devices of each scored metric (the statistic the analysis scores).",
      perMetric('median'),
    ),
    gauge(
      'edgeops_cohort_metric_p95',
      "95th percentile across the cohort's fresh devices of each scored metric.",
      perMetric('p95'),
    ),
    gauge(
      'edgeops_cohort_analyzed_timestamp_seconds',
      'When the analysis last computed the cohort statistics (Unix seconds).',
      perCohort((c) => Date.parse(c.analyzedAt) / 1000),
    ),
  ];
}

/** `GET /fleet/metrics`: every cohort's statistics in the Prometheus text format. */
export const makeExportFleetMetrics = (ports: { health: FleetHealthReader }) => async (): Promise<string> =>
  renderExposition(cohortMetricFamilies(await ports.health.listCohorts()));
