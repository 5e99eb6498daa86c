import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  CloudWatchFleetMetricsPublisher,
  cohortMetrics,
  fleetMetrics,
} from '../../functions/adapters/cloudwatch-fleet-metrics-publisher';
import { EventBridgeFleetEventPublisher } from '../../functions/adapters/eventbridge-fleet-event-publisher';
import type { CohortSummary } from '../../functions/domain/cohort-statistics';
import { CloudWatchApi, MAX_METRICS_PER_CALL } from '../../functions/shared/aws-api/cloudwatch';
import { EventBridgeApi } from '../../functions/shared/aws-api/events';

/** What the fleet analysis sends to CloudWatch and EventBridge, on the wire (stubbed fetch). */
beforeEach(() => {
  vi.stubEnv('AWS_REGION', 'eu-west-1');
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'AKIDEXAMPLE');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'secret');
  vi.stubEnv('AWS_ENDPOINT_URL', undefined);
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

function stubFetch(answer = () => new Response('<PutMetricDataResponse/>')) {
  const sent: { url: string; headers: Record<string, string>; body: string }[] = [];
  vi.stubGlobal('fetch', async (url: string, init: RequestInit) => {
    sent.push({ url, headers: init.headers as Record<string, string>, body: String(init.body) });
    return answer();
  });
  return sent;
}

const AT = new Date('2026-03-01T12:05:00.000Z');
const summary = (site: string, extra: Partial<CohortSummary> = {}): CohortSummary => ({
  cohort: `eu#${site}#rpi4#1.0`,
  site,
  hardwareType: 'rpi4',
  version: '1.0',
  devices: 40,
  fresh: 32,
  connected: 30,
  healthy: 24,
  unhealthy: 4,
  anomalous: 2,
  scored: true,
  memoryP95MiB: 512.5,
  cpuP95Percent: 71,
  flagged: 0,
  cleared: 0,
  deviceWrites: 0,
  ...extra,
});

describe('cohort and fleet metrics', () => {
  it('names 7 cohort metrics with Site, HardwareType and Version, healthy % of the fresh devices', () => {
    const data = cohortMetrics(summary('plant-a'), AT);
    expect(data.map((d) => [d.name, d.value, d.unit])).toEqual([
      ['Devices', 40, 'Count'],
      ['HealthyPercent', 75, 'Percent'],
      ['UnhealthyDevices', 4, 'Count'],
      ['Connected', 30, 'Count'],
      ['AnomalousDevices', 2, 'Count'],
      ['MemoryP95MiB', 512.5, 'None'],
      ['CpuP95Percent', 71, 'Percent'],
    ]);
    for (const d of data)
      expect(d.dimensions).toEqual({ Site: 'plant-a', HardwareType: 'rpi4', Version: '1.0' });
  });

  it('leaves out what a cohort without fresh telemetry cannot say', () => {
    const names = cohortMetrics(
      summary('plant-b', { fresh: 0, healthy: 0, memoryP95MiB: undefined, cpuP95Percent: undefined }),
      AT,
    ).map((d) => d.name);
    expect(names).toEqual(['Devices', 'UnhealthyDevices', 'Connected', 'AnomalousDevices']);
  });

  it('computes the fleet percentages without dimensions, 0 for an empty fleet', () => {
    const totals = {
      cohorts: 2,
      devices: 200,
      fresh: 160,
      connected: 150,
      unhealthy: 8,
      anomalous: 3,
      failedCohorts: 1,
    };
    expect(Object.fromEntries(fleetMetrics(totals, AT).map((d) => [d.name, d.value]))).toEqual({
      Devices: 200,
      UnhealthyDevices: 8,
      UnhealthyPercent: 5,
      AnomalousDevices: 3,
      DisconnectedPercent: 25,
      FailedCohorts: 1,
    });
    expect(fleetMetrics(totals, AT).every((d) => d.dimensions === undefined)).toBe(true);
    const empty = {
      cohorts: 0,
      devices: 0,
      fresh: 0,
      connected: 0,
      unhealthy: 0,
      anomalous: 0,
      failedCohorts: 0,
    };
    expect(fleetMetrics(empty, AT).map((d) => d.value)).toEqual([0, 0, 0, 0, 0, 0]);
  });
});

describe('CloudWatchApi.putMetricData', () => {
  it('sends a form-encoded PutMetricData in the EdgeOps/Fleet namespace, signed for monitoring', async () => {
    const sent = stubFetch();
    await new CloudWatchFleetMetricsPublisher(new CloudWatchApi()).publishCohorts([summary('plant a/1')], AT);

    expect(sent).toHaveLength(1);
    expect(sent[0]?.url).toBe('https://monitoring.eu-west-1.amazonaws.com/');
    expect(sent[0]?.headers.authorization).toMatch(
      /Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/monitoring\/aws4_request/,
    );
    const form = new URLSearchParams(sent[0]?.body);
    expect(form.get('Action')).toBe('PutMetricData');
    expect(form.get('Namespace')).toBe('EdgeOps/Fleet');
    expect(form.get('MetricData.member.2.MetricName')).toBe('HealthyPercent');
    expect(form.get('MetricData.member.2.Value')).toBe('75');
    expect(form.get('MetricData.member.2.Timestamp')).toBe('2026-03-01T12:05:00.000Z');
    expect(form.get('MetricData.member.1.Dimensions.member.1.Name')).toBe('Site');
    expect(form.get('MetricData.member.1.Dimensions.member.1.Value')).toBe('plant a/1');
    expect(form.get('MetricData.member.8.MetricName')).toBeNull();
  });

  it(`splits more than ${MAX_METRICS_PER_CALL} metrics into requests of at most that many`, async () => {
    const sent = stubFetch();
    // 150 cohorts × 7 metrics = 1050.
    const cohorts = Array.from({ length: 150 }, (_, i) => summary(`site-${i}`));
    await new CloudWatchFleetMetricsPublisher(new CloudWatchApi()).publishCohorts(cohorts, AT);

    const counts = sent.map(
      (s) => [...new URLSearchParams(s.body).keys()].filter((k) => k.endsWith('.MetricName')).length,
    );
    expect(counts).toEqual([1000, 50]);
  });

  it('refuses a value CloudWatch would reject before sending anything', async () => {
    const sent = stubFetch();
    await expect(
      new CloudWatchApi().putMetricData('EdgeOps/Fleet', [
        { name: 'Devices', value: Number.NaN, unit: 'Count', timestamp: AT },
      ]),
    ).rejects.toThrow(/Devices is not a finite number/);
    expect(sent).toHaveLength(0);
  });

  it('fails with the error CloudWatch answers (query protocol XML)', async () => {
    stubFetch(
      () =>
        new Response(
          '<ErrorResponse><Error><Code>InvalidParameterValue</Code><Message>bad</Message></Error></ErrorResponse>',
          {
            status: 400,
          },
        ),
    );
    await expect(
      new CloudWatchFleetMetricsPublisher(new CloudWatchApi()).publishCohorts([summary('x')], AT),
    ).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });
});

describe('EventBridgeFleetEventPublisher', () => {
  it('puts Device Anomaly Flagged on the default bus from edgeops.fleet, without the calm count', async () => {
    const sent = stubFetch(
      () => new Response(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'e1' }] })),
    );
    await new EventBridgeFleetEventPublisher(new EventBridgeApi()).publish([
      {
        kind: 'flagged',
        deviceId: 'dev-1',
        runId: 'run-7',
        analyzedAt: AT.toISOString(),
        anomaly: {
          metric: 'memory.used_mib',
          score: 12.5,
          value: 900,
          cohortMedian: 410,
          since: AT.toISOString(),
          cohort: 'eu#s#rpi4#1.0',
          calmRuns: 0,
        },
      },
    ]);
    const entry = JSON.parse(sent[0]?.body ?? '{}').Entries[0];
    expect(entry).toMatchObject({ Source: 'edgeops.fleet', DetailType: 'Device Anomaly Flagged' });
    expect(JSON.parse(entry.Detail)).toEqual({
      deviceId: 'dev-1',
      metric: 'memory.used_mib',
      score: 12.5,
      value: 900,
      cohortMedian: 410,
      since: AT.toISOString(),
      cohort: 'eu#s#rpi4#1.0',
      runId: 'run-7',
      analyzedAt: AT.toISOString(),
    });
  });
});
