import {
  type DeviceAnomalyState,
  findOutliers,
  MIN_SCORED_DEVICES,
  type Outlier,
  SCORED_METRICS,
  stepAnomalyState,
} from '../domain/anomaly';
import {
  type CohortEntry,
  type CohortSummary,
  cohortStatistics,
  isFresh,
  metricValue,
} from '../domain/cohort-statistics';
import type { AnomalyStore, DeviceAnomalyChange } from '../ports/anomaly-store';
import type { CohortReader } from '../ports/cohort-reader';
import type { DeviceAnomalyEvent, FleetEventPublisher } from '../ports/fleet-event-publisher';

export interface AnalyzeCohortPorts {
  readonly cohorts: CohortReader;
  readonly store: AnomalyStore;
  readonly events: FleetEventPublisher;
}

export interface AnalyzeCohortOptions {
  /** A device's latest telemetry counts while it is at most this old (ms) at the analysis time. */
  readonly freshForMs: number;
  /** Device items written at once. @default 8 */
  readonly writeConcurrency?: number;
}

export interface AnalyzeCohortInput {
  readonly cohort: CohortEntry;
  /** The analysis run (the execution's name); a retried step repeats it. */
  readonly runId: string;
  /** The run's analysis time (ISO), the same for every cohort of the run. */
  readonly analyzedAt: string;
}

/**
 * One cohort's analysis, one state machine step; its work grows with the cohort, never the fleet:
 * 1. read the cohort's devices; those with telemetry newer than `freshForMs` count;
 * 2. with at least MIN_SCORED_DEVICES fresh ones, score each scored metric across them and step
 *    each fresh device's streak and flag (domain/anomaly.ts); devices without fresh telemetry
 *    and cohorts too small keep their state (no evidence either way);
 * 3. publish the flags and clears (before writing them, so a step that fails between the two
 *    publishes again on its retry: at least once, each event naming its run);
 * 4. write only the devices whose state changed, each at most once per run (a retried step finds
 *    them written and skips them, so a streak never counts a run twice);
 * 5. write the cohort's statistics onto its COHORTS entry and hand back a small summary.
 */
export const makeAnalyzeCohort =
  (ports: AnalyzeCohortPorts, options: AnalyzeCohortOptions) =>
  async (input: AnalyzeCohortInput): Promise<CohortSummary> => {
    const { cohort, runId, analyzedAt } = input;
    const devices = await ports.cohorts.readCohort(cohort.cohort);
    const analyzedAtMs = Date.parse(analyzedAt);
    const fresh = new Set(
      devices.filter((d) => isFresh(d, analyzedAtMs, options.freshForMs)).map((d) => d.deviceId),
    );
    const scored = fresh.size >= MIN_SCORED_DEVICES;

    const outliersOf = new Map<string, Outlier[]>();
    if (scored) {
      for (const metric of SCORED_METRICS) {
        const values = new Map<string, number>();
        for (const d of devices) {
          const value = fresh.has(d.deviceId) ? metricValue(d, metric.metric, metric.stat) : undefined;
          if (value !== undefined) values.set(d.deviceId, value);
        }
        for (const [deviceId, outlier] of findOutliers(metric, values)) {
          outliersOf.set(deviceId, [...(outliersOf.get(deviceId) ?? []), outlier]);
        }
      }
    }

    const changes: DeviceAnomalyChange[] = [];
    const events: DeviceAnomalyEvent[] = [];
    let anomalous = 0;
    for (const device of devices) {
      let state: DeviceAnomalyState = device;
      if (scored && fresh.has(device.deviceId)) {
        const step = stepAnomalyState(device, outliersOf.get(device.deviceId) ?? [], {
          analyzedAt,
          cohort: cohort.cohort,
        });
        state = step.next;
        if (step.changed) {
          changes.push({
            deviceId: device.deviceId,
            runId,
            next: step.next,
            ...(step.transition ? { transition: step.transition } : {}),
            ...(device.anomaly ? { previous: device.anomaly } : {}),
          });
        }
        const flag = step.transition === 'cleared' ? device.anomaly : step.next.anomaly;
        if (step.transition && flag) {
          events.push({ kind: step.transition, deviceId: device.deviceId, anomaly: flag, runId, analyzedAt });
        }
      }
      if (state.anomaly) anomalous++;
    }

    if (events.length > 0) await ports.events.publish(events);
    let deviceWrites = 0;
    const queue = [...changes];
    const write = async () => {
      for (let change = queue.shift(); change !== undefined; change = queue.shift()) {
        if ((await ports.store.applyDeviceChange(change)) === 'applied') deviceWrites++;
      }
    };
    await Promise.all(Array.from({ length: options.writeConcurrency ?? 8 }, write));

    const statistics = cohortStatistics(devices, fresh, { anomalous, scored, analyzedAt });
    await ports.store.writeCohortStatistics(cohort.cohort, statistics);
    const memory = statistics.metrics['memory.used_mib'];
    const cpu = statistics.metrics['cpu.percent'];
    return {
      cohort: cohort.cohort,
      site: cohort.site,
      hardwareType: cohort.hardwareType,
      version: cohort.version,
      devices: statistics.devices,
      fresh: statistics.fresh,
      connected: statistics.connected,
      healthy: statistics.health.healthy,
      unhealthy: statistics.health.unhealthy,
      anomalous,
      scored,
      ...(memory ? { memoryP95MiB: memory.p95 } : {}),
      ...(cpu ? { cpuP95Percent: cpu.p95 } : {}),
      flagged: events.filter((e) => e.kind === 'flagged').length,
      cleared: events.filter((e) => e.kind === 'cleared').length,
      deviceWrites,
    };
  };
