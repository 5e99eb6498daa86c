import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertV1, type ParsedAlertRule } from '../../contract/telemetry';
import { AlertOutbox } from '../../device/telemetry/alert-outbox';
import { AlertRuleSet, parseAlertRules } from '../../device/telemetry/alert-rules';

const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);
const [HOT, LOW_MEMORY] = parseAlertRules([
  { id: 'overheat', metric: 'temperature.celsius', op: '>', threshold: 80, forSamples: 3 },
  { id: 'memory-low', metric: 'memory.percent', op: '>=', threshold: 95, severity: 'warning' },
]) as [ParsedAlertRule, ParsedAlertRule];

const temps = (set: AlertRuleSet, values: readonly number[]) =>
  values.flatMap((value, i) => set.check(T0 + i * 10_000, { 'temperature.celsius': value }, '1.0.0'));

describe('AlertRuleSet', () => {
  it('raises after forSamples consecutive samples past the threshold, once per episode', () => {
    const set = new AlertRuleSet([HOT]);

    const alerts = temps(set, [85, 86, 90, 91, 95]);

    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      kind: 'threshold',
      ruleId: 'overheat',
      state: 'raised',
      value: 90,
      at: T0 + 20_000,
      op: '>',
      threshold: 80,
      severity: 'critical',
    });
    expect(AlertV1.safeParse(alerts[0]).success).toBe(true);
  });

  it('does not raise when the streak is broken before forSamples', () => {
    const set = new AlertRuleSet([HOT]);

    expect(temps(set, [85, 86, 70, 85, 86])).toEqual([]);
  });

  it('clears on the first sample back and raises again in a new episode', () => {
    const set = new AlertRuleSet([HOT]);

    const alerts = temps(set, [85, 85, 85, 60, 85, 85, 85]);

    expect(alerts.map((a) => a.state)).toEqual(['raised', 'cleared', 'raised']);
    expect(alerts[1]?.alertId).toBe(`${T0 + 30_000}-overheat-cleared`);
  });

  it('neither raises nor clears on a sample without the metric', () => {
    const set = new AlertRuleSet([HOT], ['overheat']);

    expect(set.check(T0, { 'cpu.percent': 5 }, '1.0.0')).toEqual([]);
    expect(set.raised).toEqual(['overheat']);
  });

  it('keeps a raised rule raised across a restart (no second raise) and clears it later', () => {
    const set = new AlertRuleSet([HOT], ['overheat']);

    expect(temps(set, [90, 90, 90, 50]).map((a) => a.state)).toEqual(['cleared']);
  });

  it('clears a raised rule that a new configuration removes or changes, and keeps unchanged ones', () => {
    const set = new AlertRuleSet([HOT, LOW_MEMORY], ['overheat', 'memory-low']);

    const clears = set.replace([{ ...HOT, threshold: 75 }, LOW_MEMORY], T0, '1.0.0');

    expect(clears.map((a) => [a.ruleId, a.state, a.message])).toEqual([
      ['overheat', 'cleared', 'rule changed'],
    ]);
    expect(set.raised).toEqual(['memory-low']);
  });

  it('refuses a rule that does not parse, naming the field', () => {
    expect(() =>
      parseAlertRules([{ id: 'x', metric: 'cpu.percent', op: '!=' as '>', threshold: 1 }]),
    ).toThrow(/alertRules\[0\]\[op\]/);
    expect(() =>
      parseAlertRules([
        { id: 'x', metric: 'cpu.percent', op: '>', threshold: 1 },
        { id: 'x', metric: 'cpu.percent', op: '<', threshold: 0 },
      ]),
    ).toThrow(/used twice/);
  });
});

describe('AlertOutbox', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telemetry-alerts-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const raised = (at: number) =>
    temps(new AlertRuleSet([{ ...HOT, forSamples: 1 }]), [90]).map((a) => ({
      ...a,
      at,
      alertId: `${at}-overheat-raised`,
    }))[0] as AlertV1;

  it('keeps alerts across a restart, ignores a torn last line, and sends them in order', async () => {
    const outbox = await AlertOutbox.open(dir, { fsync: false });
    await outbox.record([raised(T0), raised(T0 + 1)], ['overheat']);
    await appendFile(join(dir, 'alerts.jsonl'), '{"v":1,"alertId":"17');

    const reopened = await AlertOutbox.open(dir, { fsync: false });
    await reopened.record([raised(T0 + 2)], ['overheat']);
    const sent: string[] = [];
    await (await AlertOutbox.open(dir, { fsync: false })).flush(async (alert) => {
      sent.push(alert.alertId);
    });

    expect(reopened.raised).toEqual(['overheat']);
    expect(sent).toEqual([`${T0}-overheat-raised`, `${T0 + 1}-overheat-raised`, `${T0 + 2}-overheat-raised`]);
    expect((await AlertOutbox.open(dir, { fsync: false })).pending).toEqual([]);
  });

  it('stops at the first failed publish and keeps that alert and the ones after it', async () => {
    const outbox = await AlertOutbox.open(dir, { fsync: false });
    await outbox.record([raised(T0), raised(T0 + 1)], []);

    await outbox.flush(async () => {
      throw new Error('offline');
    });

    expect(outbox.pending.map((a) => a.at)).toEqual([T0, T0 + 1]);
  });
});
