import { describe, expect, it } from 'vitest';
import { InMemoryFleetHealthReader } from '../../functions/adapters/in-memory-fleet-health-reader';
import {
  escapeHelp,
  escapeLabelValue,
  formatValue,
  renderExposition,
} from '../../functions/domain/prometheus-exposition';
import { cohortMetricFamilies, makeExportFleetMetrics } from '../../functions/use-cases/export-fleet-metrics';

describe('Prometheus text exposition 0.0.4', () => {
  it('escapes backslash, double quote and line feed in label values', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd');
  });

  it('escapes backslash and line feed in HELP, not quotes', () => {
    expect(escapeHelp('say "hi"\\\n')).toBe('say "hi"\\\\\\n');
  });

  it('spells the special values as Prometheus reads them', () => {
    expect([NaN, Infinity, -Infinity, 1.5, 0].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '1.5', '0']);
  });

  it('renders HELP, TYPE and one line per sample, and leaves out families without samples', () => {
    const text = renderExposition([
      { name: 'a_total', help: 'As.', type: 'counter', samples: [{ labels: { site: 'x"y' }, value: 3 }] },
      { name: 'b', help: 'Bs.', type: 'gauge', samples: [] },
      { name: 'c', help: 'Cs.', type: 'gauge', samples: [{ labels: {}, value: 1 }] },
    ]);
    expect(text).toBe(
      '# HELP a_total As.\n# TYPE a_total counter\na_total{site="x\\"y"} 3\n# HELP c Cs.\n# TYPE c gauge\nc 1\n',
    );
  });

  it('refuses metric and label names the format does not allow', () => {
    expect(() => renderExposition([{ name: 'cpu.percent', help: '', type: 'gauge', samples: [] }])).toThrow();
    expect(() =>
      renderExposition([
        { name: 'x', help: '', type: 'gauge', samples: [{ labels: { __name: 'a' }, value: 1 }] },
      ]),
    ).toThrow(/label name/);
  });
});

describe('fleet metrics export', () => {
  const reader = new InMemoryFleetHealthReader();
  reader.cohorts.push(
    {
      cohort: 'eu#plant "a"#rpi4#1.0.0',
      region: 'eu',
      site: 'plant "a"',
      hardwareType: 'rpi4',
      version: '1.0.0',
      analyzedAt: '2026-11-02T10:00:00.000Z',
      devices: 30,
      fresh: 29,
      connected: 28,
      health: { healthy: 25, degraded: 3, unhealthy: 1, unknown: 1 },
      anomalous: 2,
      metrics: { 'memory.used_mib': { median: 400, p95: 450, devices: 29 } },
      scored: true,
    },
    { cohort: 'eu#b#rpi4#1.0.0', region: 'eu', site: 'b', hardwareType: 'rpi4', version: '1.0.0' },
  );

  it('exports one series per cohort with escaped labels, and none for a cohort not analyzed yet', async () => {
    const text = await makeExportFleetMetrics({ health: reader })();
    const labels = 'region="eu",site="plant \\"a\\"",hardware_type="rpi4",version="1.0.0"';

    expect(text).toContain(`edgeops_cohort_devices{${labels}} 30\n`);
    expect(text).toContain(`edgeops_cohort_connected{${labels}} 28\n`);
    expect(text).toContain(`edgeops_cohort_health{${labels},state="degraded"} 3\n`);
    expect(text).toContain(`edgeops_cohort_anomalous{${labels}} 2\n`);
    expect(text).toContain(`edgeops_cohort_metric_median{${labels},metric="memory.used_mib"} 400\n`);
    expect(text).toContain(`edgeops_cohort_analyzed_timestamp_seconds{${labels}} 1793613600\n`);
    expect(text).not.toContain('site="b"');
  });

  it('declares every family as a gauge', () => {
    expect(new Set(cohortMetricFamilies(reader.cohorts).map((f) => f.type))).toEqual(new Set(['gauge']));
  });
});

describe('token sidecar (examples/prometheus/token-refresher.mjs)', () => {
  const load = async () =>
    (await import(new URL('../../examples/prometheus/token-refresher.mjs', import.meta.url).href)) as {
      totp: (secret: Buffer, atMs: number, digits?: number) => string;
      base32Decode: (text: string) => Buffer;
    };

  it.each([
    [59, '94287082'],
    [1111111109, '07081804'],
    [2000000000, '69279037'],
  ])('computes the RFC 6238 SHA-1 test vector at %i s', async (seconds, code) => {
    const { totp } = await load();
    expect(totp(Buffer.from('12345678901234567890'), seconds * 1000, 8)).toBe(code);
  });

  it('reads a base32 TOTP seed as authenticator apps show it', async () => {
    const { base32Decode } = await load();
    expect(base32Decode('GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ').toString()).toBe('12345678901234567890');
  });
});
