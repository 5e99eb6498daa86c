import { describe, expect, it } from 'vitest';
import {
  InMemoryFleetAnalysisStore,
  RecordingFleetEventPublisher,
  RecordingFleetMetricsPublisher,
} from '../../functions/adapters/in-memory-fleet-analysis';
import type { CohortEntry } from '../../functions/domain/cohort-statistics';
import { AnalyzeCohortRequest, FleetStepRequest } from '../../functions/fleet-analysis/schemas';
import { parseInput } from '../../functions/shared/parse';
import { makeAnalyzeCohort } from '../../functions/use-cases/analyze-cohort';
import {
  COHORTS_PER_PAGE,
  makeNextCohortPage,
  makePublishFleetTotals,
} from '../../functions/use-cases/publish-fleet-totals';

const FRESH_FOR_MS = 15 * 60_000;
const COHORT: CohortEntry = {
  cohort: 'eu#s1#hw1#1.0',
  region: 'eu',
  site: 's1',
  hardwareType: 'hw1',
  version: '1.0',
};
const T0 = Date.parse('2026-03-01T12:00:00.000Z');
const at = (run: number) => new Date(T0 + run * 5 * 60_000).toISOString();

/** Deterministic noise in [-1, 1] per device and run. */
const noise = (device: number, run: number) => Math.sin(device * 12.9898 + run * 78.233);

interface Drift {
  memory?: number;
  cpu?: number;
  reconnects?: number;
}

function setUp(devices: number) {
  const store = new InMemoryFleetAnalysisStore();
  const events = new RecordingFleetEventPublisher();
  store.putCohort(COHORT);
  const analyze = makeAnalyzeCohort({ cohorts: store, store, events }, { freshForMs: FRESH_FOR_MS });
  /** Every device reports a window ending at the run's time; `drift` by device index. */
  const report = (run: number, drift: Record<number, Drift> = {}, ageMs = 60_000) => {
    for (let i = 0; i < devices; i++) {
      const d = drift[i] ?? {};
      store.putDevice(COHORT.cohort, {
        deviceId: `dev-${String(i).padStart(3, '0')}`,
        health: 'healthy',
        healthAt: new Date(Date.parse(at(run)) - ageMs).toISOString(),
        connectionState: i % 10 === 0 ? 'disconnected' : 'connected',
        metrics: {
          'memory.used_mib': { p95: d.memory ?? 400 + 8 * noise(i, run), mean: 390 },
          'cpu.percent': { p95: d.cpu ?? 30 + 5 * noise(i + 1, run), mean: 20 },
          'temperature.celsius': { max: 50 + 2 * noise(i + 2, run) },
          'link.reconnects': { sum: d.reconnects ?? (noise(i, run) > 0.9 ? 1 : 0) },
          'process.restarts': { sum: 0 },
        },
      });
    }
  };
  const runAnalysis = (run: number, runId = `run-${run}`) =>
    analyze({ cohort: COHORT, runId, analyzedAt: at(run) });
  return { store, events, report, runAnalysis };
}

const DRIFT: Record<number, Drift> = { 3: { memory: 900 }, 7: { cpu: 97 }, 11: { reconnects: 25 } };

describe('analyzeCohort', () => {
  it('flags the drifting devices on their metric after 3 runs, and none of the healthy ones', async () => {
    const { store, events, report, runAnalysis } = setUp(24);
    for (let run = 0; run < 2; run++) {
      report(run, DRIFT);
      const summary = await runAnalysis(run);
      expect(summary.flagged).toBe(0);
    }
    expect(store.anomalies.size).toBe(0);
    report(2, DRIFT);
    const summary = await runAnalysis(2);

    expect(summary).toMatchObject({ flagged: 3, anomalous: 3, scored: true, devices: 24, fresh: 24 });
    expect(Object.fromEntries([...store.anomalies].map(([id, a]) => [id, a.metric]))).toEqual({
      'dev-003': 'memory.used_mib',
      'dev-007': 'cpu.percent',
      'dev-011': 'link.reconnects',
    });
    expect(store.anomalies.get('dev-003')).toMatchObject({ value: 900, since: at(2), cohort: COHORT.cohort });
    expect(store.devices.get('dev-003')?.anomaly?.metric).toBe('memory.used_mib');
    expect([...store.devices.values()].filter((d) => d.anomaly).length).toBe(3);
    expect(events.published.map((e) => [e.kind, e.deviceId, e.anomaly.metric])).toEqual([
      ['flagged', 'dev-003', 'memory.used_mib'],
      ['flagged', 'dev-007', 'cpu.percent'],
      ['flagged', 'dev-011', 'link.reconnects'],
    ]);
  });

  it('writes its statistics onto the COHORTS entry', async () => {
    const { store, report, runAnalysis } = setUp(24);
    report(0, DRIFT);
    await runAnalysis(0);
    const statistics = store.cohorts.get(COHORT.cohort)?.statistics;
    expect(statistics).toMatchObject({
      devices: 24,
      fresh: 24,
      connected: 21,
      health: { healthy: 24, degraded: 0, unhealthy: 0, unknown: 0 },
      anomalous: 0,
      analyzedAt: at(0),
      scored: true,
    });
    // Nearest rank of 24: the 23rd value, the highest below the leaking device's 900.
    const memoryValues = [...store.devices.values()]
      .map((d) => d.metrics?.['memory.used_mib']?.p95 ?? 0)
      .sort((a, b) => a - b);
    expect(statistics?.metrics['memory.used_mib']?.p95).toBe(memoryValues[22]);
    expect(memoryValues[23]).toBe(900);
    expect(statistics?.metrics['memory.used_mib']?.median).toBeGreaterThan(390);
    expect(statistics?.metrics['memory.used_mib']?.median).toBeLessThan(410);
  });

  it('does not count a run twice when its step is retried', async () => {
    const { store, report, runAnalysis } = setUp(24);
    report(0, DRIFT);
    await runAnalysis(0);
    const writes = store.deviceWrites;
    const retried = await runAnalysis(0);

    expect(retried.deviceWrites).toBe(0);
    expect(store.deviceWrites).toBe(writes);
    expect(store.devices.get('dev-003')?.streak).toEqual({ 'memory.used_mib': 1 });
    report(1, DRIFT);
    await runAnalysis(1);
    await runAnalysis(1);
    expect(store.devices.get('dev-003')?.streak).toEqual({ 'memory.used_mib': 2 });
    expect(store.anomalies.size).toBe(0);
  });

  it('writes only the devices whose state changes, not the cohort', async () => {
    const { store, report, runAnalysis } = setUp(200);
    const perRun: number[] = [];
    for (let run = 0; run < 5; run++) {
      report(run, DRIFT);
      perRun.push((await runAnalysis(run)).deviceWrites);
    }
    // Streaks 1, 2, flagged (3 writes each), then capped: nothing changes.
    expect(perRun).toEqual([3, 3, 3, 0, 0]);
    expect(store.deviceWrites).toBe(9);
  });

  it('clears a flag after 2 runs as an outlier on no metric', async () => {
    const { store, events, report, runAnalysis } = setUp(24);
    for (let run = 0; run < 3; run++) {
      report(run, { 3: { memory: 900 } });
      await runAnalysis(run);
    }
    report(3);
    expect((await runAnalysis(3)).cleared).toBe(0);
    expect(store.anomalies.has('dev-003')).toBe(true);
    report(4);
    const summary = await runAnalysis(4);

    expect(summary).toMatchObject({ cleared: 1, anomalous: 0 });
    expect(store.anomalies.has('dev-003')).toBe(false);
    expect(store.devices.get('dev-003')?.anomaly).toBeUndefined();
    expect(events.published.at(-1)).toMatchObject({
      kind: 'cleared',
      deviceId: 'dev-003',
      anomaly: { metric: 'memory.used_mib', since: at(2) },
    });
  });

  it('does not score a cohort with fewer than 20 fresh devices, but writes its statistics', async () => {
    const { store, events, report, runAnalysis } = setUp(19);
    for (let run = 0; run < 3; run++) {
      report(run, DRIFT);
      const summary = await runAnalysis(run);
      expect(summary).toMatchObject({ scored: false, deviceWrites: 0, fresh: 19 });
    }
    expect(events.published).toEqual([]);
    expect(store.devices.get('dev-003')?.streak).toEqual({});
    expect(store.cohorts.get(COHORT.cohort)?.statistics).toMatchObject({ scored: false, devices: 19 });
  });

  it('counts devices whose telemetry is older than the freshness window as unknown, and scores without them', async () => {
    const { store, report, runAnalysis } = setUp(24);
    report(0, DRIFT, FRESH_FOR_MS + 60_000);
    const summary = await runAnalysis(0);

    expect(summary).toMatchObject({ devices: 24, fresh: 0, scored: false, healthy: 0 });
    expect(store.cohorts.get(COHORT.cohort)?.statistics?.health).toEqual({
      healthy: 0,
      degraded: 0,
      unhealthy: 0,
      unknown: 24,
    });
  });

  it('keeps a stale device’s flag (no evidence it recovered)', async () => {
    const { store, report, runAnalysis } = setUp(24);
    for (let run = 0; run < 3; run++) {
      report(run, DRIFT);
      await runAnalysis(run);
    }
    report(5, {}, FRESH_FOR_MS + 60_000);
    const summary = await runAnalysis(5);
    expect(summary).toMatchObject({ anomalous: 3, cleared: 0, deviceWrites: 0 });
    expect(store.anomalies.size).toBe(3);
  });
});

describe('cohort pages and fleet totals', () => {
  const summary = (cohort: string, devices: number, unhealthy: number) => ({
    cohort,
    site: 's1',
    hardwareType: 'hw1',
    version: '1.0',
    devices,
    fresh: devices,
    connected: Math.max(0, devices - 1),
    healthy: devices - unhealthy,
    unhealthy,
    anomalous: devices > 0 ? 1 : 0,
    scored: true,
    flagged: 0,
    cleared: 0,
    deviceWrites: 0,
  });

  it(`lists ${COHORTS_PER_PAGE} cohorts a page and follows the cursor to the end`, async () => {
    const store = new InMemoryFleetAnalysisStore();
    for (let i = 0; i < 120; i++)
      store.putCohort({ ...COHORT, cohort: `eu#s${String(i).padStart(3, '0')}#hw1#1.0`, site: `s${i}` });
    const next = makeNextCohortPage({ cohorts: store, metrics: new RecordingFleetMetricsPublisher() });
    const sizes: number[] = [];
    let page = await next({ analyzedAt: at(0), more: true, results: [] });
    while (page.cohorts.length > 0) {
      sizes.push(page.cohorts.length);
      page = await next({
        analyzedAt: at(0),
        ...(page.cursor ? { cursor: page.cursor } : {}),
        more: page.more,
        totals: page.totals,
        results: [],
      });
    }
    expect(sizes).toEqual([50, 50, 20]);
  });

  it('publishes a page of cohort figures in one request (none of an empty cohort) and adds them to the totals', async () => {
    const store = new InMemoryFleetAnalysisStore();
    const metrics = new RecordingFleetMetricsPublisher();
    const next = makeNextCohortPage({ cohorts: store, metrics });
    const page = await next({
      analyzedAt: at(0),
      more: false,
      totals: {
        cohorts: 1,
        devices: 10,
        fresh: 10,
        connected: 10,
        unhealthy: 0,
        anomalous: 0,
        failedCohorts: 0,
      },
      results: [
        summary('a', 30, 3),
        summary('b', 20, 1),
        { cohort: 'c', failed: true },
        summary('gone', 0, 0),
      ],
    });

    expect(metrics.cohortRequests).toHaveLength(1);
    expect(metrics.cohortRequests[0]?.cohorts.map((c) => c.cohort)).toEqual(['a', 'b']);
    expect(page).toEqual({
      cohorts: [],
      cursor: null,
      more: false,
      totals: {
        cohorts: 4,
        devices: 60,
        fresh: 60,
        connected: 58,
        unhealthy: 4,
        anomalous: 2,
        failedCohorts: 1,
      },
    });
  });

  it('publishes the fleet totals at the analysis time', async () => {
    const metrics = new RecordingFleetMetricsPublisher();
    const totals = {
      cohorts: 3,
      devices: 60,
      fresh: 60,
      connected: 58,
      unhealthy: 4,
      anomalous: 2,
      failedCohorts: 0,
    };
    await makePublishFleetTotals({ metrics })({ analyzedAt: at(1), totals });
    expect(metrics.totals).toEqual([{ totals, at: new Date(at(1)) }]);
  });
});

describe('fleet analysis step requests', () => {
  it('refuses a cohort request without a site, naming the field', () => {
    const request = { cohort: { ...COHORT, site: '' }, runId: 'run-1', analyzedAt: at(0) };
    expect(() => parseInput(AnalyzeCohortRequest, request, 'cohort analysis request')).toThrow(
      /cohort\.site/,
    );
  });

  it('refuses an analysis time that is not a time', () => {
    const request = { cohort: COHORT, runId: 'run-1', analyzedAt: 'yesterday' };
    expect(() => parseInput(AnalyzeCohortRequest, request, 'cohort analysis request')).toThrow(/analyzedAt/);
  });

  it('refuses a page step with more than a page of results', () => {
    const request = {
      step: 'next-page',
      analyzedAt: at(0),
      page: { more: true },
      results: Array.from({ length: 51 }, () => ({ cohort: COHORT, failed: true })),
    };
    expect(() => parseInput(FleetStepRequest, request, 'fleet analysis step')).toThrow(/results/);
  });

  it('takes the Map’s output as the state machine hands it over', () => {
    const request = {
      step: 'next-page',
      analyzedAt: at(0),
      page: { cohorts: [COHORT], cursor: null, more: false, totals: null },
      results: [{ cohort: COHORT, failed: true }],
    };
    expect(parseInput(FleetStepRequest, request, 'fleet analysis step')).toMatchObject({ step: 'next-page' });
  });
});
