import { type CohortSummary, type FleetTotals, percent } from '../domain/cohort-statistics';
import type { FleetMetricsPublisher } from '../ports/fleet-metrics-publisher';
import type { CloudWatchApi, MetricDatum } from '../shared/aws-api/cloudwatch';

/** Where the fleet's figures go in CloudWatch (lib/fleet-analysis.ts alarms and graphs them). */
export const FLEET_METRICS_NAMESPACE = 'EdgeOps/Fleet';

/**
 * FleetMetricsPublisher on CloudWatch: per cohort 7 metrics with dimensions Site, HardwareType,
 * Version; the fleet's 6 totals without dimensions. A page of 50 cohorts is one request (350 of
 * the 1000 metrics a request may hold). Never per device: a metric per device would cost
 * $0.30 a month each.
 */
export class CloudWatchFleetMetricsPublisher implements FleetMetricsPublisher {
  constructor(private readonly cloudWatch: CloudWatchApi) {}

  async publishCohorts(cohorts: readonly CohortSummary[], at: Date): Promise<void> {
    await this.cloudWatch.putMetricData(
      FLEET_METRICS_NAMESPACE,
      cohorts.flatMap((c) => cohortMetrics(c, at)),
    );
  }

  async publishFleetTotals(totals: FleetTotals, at: Date): Promise<void> {
    await this.cloudWatch.putMetricData(FLEET_METRICS_NAMESPACE, fleetMetrics(totals, at));
  }
}

export function cohortMetrics(c: CohortSummary, at: Date): MetricDatum[] {
  const dimensions = { Site: c.site, HardwareType: c.hardwareType, Version: c.version };
  const datum = (name: string, value: number, unit: MetricDatum['unit']): MetricDatum => ({
    name,
    value,
    unit,
    dimensions,
    timestamp: at,
  });
  return [
    datum('Devices', c.devices, 'Count'),
    // Of the devices with fresh telemetry: a cohort with none has no verdict, not 0 %.
    ...(c.fresh > 0 ? [datum('HealthyPercent', percent(c.healthy, c.fresh), 'Percent')] : []),
    datum('UnhealthyDevices', c.unhealthy, 'Count'),
    datum('Connected', c.connected, 'Count'),
    datum('AnomalousDevices', c.anomalous, 'Count'),
    ...(c.memoryP95MiB === undefined ? [] : [datum('MemoryP95MiB', c.memoryP95MiB, 'None')]),
    ...(c.cpuP95Percent === undefined ? [] : [datum('CpuP95Percent', c.cpuP95Percent, 'Percent')]),
  ];
}

export function fleetMetrics(t: FleetTotals, at: Date): MetricDatum[] {
  const datum = (name: string, value: number, unit: MetricDatum['unit']): MetricDatum => ({
    name,
    value,
    unit,
    timestamp: at,
  });
  return [
    datum('Devices', t.devices, 'Count'),
    datum('UnhealthyDevices', t.unhealthy, 'Count'),
    datum('UnhealthyPercent', percent(t.unhealthy, t.fresh), 'Percent'),
    datum('AnomalousDevices', t.anomalous, 'Count'),
    datum('DisconnectedPercent', percent(t.devices - t.connected, t.devices), 'Percent'),
    datum('FailedCohorts', t.failedCohorts, 'Count'),
  ];
}
