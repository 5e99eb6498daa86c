import type { Rollout, Wave } from '../../domain/rollout';
import {
  baselineCohortsOf,
  baselineMaxAgeSeconds,
  cohortKeyOf,
  evaluateTelemetryGates,
  MAX_BASELINE_SAMPLE,
  MAX_UPDATED_SAMPLE,
  type TelemetryGateVerdict,
  type UpdatedDeviceTelemetry,
} from '../../domain/telemetry-gate';
import { bucketOf } from '../../domain/wave-counters';
import type { RolloutStore } from '../../ports/rollout-store';
import type { TelemetryBaseline } from '../../ports/telemetry-baseline';

/**
 * A wave's telemetry gates, once its soak is over and its devices passed the count:
 * 1. reads the wave's first 100 executions (one page) and keeps the devices healthy on the new
 *    version that came from another one;
 * 2. reads their latest telemetry (one BatchGetItem);
 * 3. groups them by cohort (region, site, hardware type, the version they came from) and reads up
 *    to 100 devices of each of the 16 largest cohorts still on that version (one Query each);
 * 4. compares (domain/telemetry-gate.ts).
 * At most 1 + 1 + 16 reads, whatever the size of the wave or the fleet. Reads only: a retried
 * step decides again from what is there then.
 */
export async function checkTelemetryGates(
  ports: { rollouts: Pick<RolloutStore, 'pageExecutions'>; telemetry: TelemetryBaseline },
  rollout: Rollout,
  wave: Wave,
  now: Date,
): Promise<TelemetryGateVerdict> {
  const page = await ports.rollouts.pageExecutions(rollout.rolloutId, {
    waveIndex: wave.index,
    limit: MAX_UPDATED_SAMPLE,
  });
  const fromVersions = new Map<string, string>();
  for (const e of page.items) {
    if (bucketOf(e) === 'healthy' && e.fromVersion !== undefined && e.fromVersion !== rollout.version)
      fromVersions.set(e.deviceId, e.fromVersion);
  }
  const located =
    fromVersions.size > 0 ? await ports.telemetry.latestOfDevices([...fromVersions.keys()]) : [];
  const updated: UpdatedDeviceTelemetry[] = located.flatMap((d) => {
    const fromVersion = fromVersions.get(d.deviceId);
    return fromVersion === undefined ? [] : [{ ...d, fromVersion }];
  });
  const { cohorts, skipped } = baselineCohortsOf(updated);
  const baselines = await Promise.all(
    cohorts.map((cohort) => ports.telemetry.latestOfCohort(cohort, MAX_BASELINE_SAMPLE)),
  );
  return evaluateTelemetryGates({
    waveIndex: wave.index,
    gates: wave.gates ?? [],
    version: rollout.version,
    measuredSince: wave.soakStartedAt ?? wave.startedAt ?? rollout.createdAt,
    now,
    baselineMaxAgeSeconds: baselineMaxAgeSeconds(wave.soakSeconds),
    cohorts: cohorts.map((cohort, i) => ({
      cohort,
      updated: updated.filter((d) => cohortKeyOf({ ...d, version: d.fromVersion }) === cohortKeyOf(cohort)),
      baseline: baselines[i] ?? [],
    })),
    skippedCohorts: skipped,
  });
}
