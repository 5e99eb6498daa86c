/**
 * Threshold alerts, checked on every sample: a rule raises after `forSamples` consecutive samples
 * past its threshold and clears on the first sample back (no hysteresis); one raise per episode.
 * A sample without the rule's metric changes nothing (a host without a thermal zone neither
 * raises nor clears a temperature rule).
 *
 * Which rules are raised is kept by the caller across restarts (`raised`), so an episode that
 * spans a restart is not raised twice and still gets its clear.
 */
import {
  type AlertRule,
  AlertRules,
  type AlertV1,
  alertId,
  type ParsedAlertRule,
} from '../../contract/telemetry';

/** Parses rules from configuration; throws with the field named. */
export function parseAlertRules(rules: readonly AlertRule[]): ParsedAlertRule[] {
  const parsed = AlertRules.safeParse(rules);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `alertRules${issue?.path.map((key) => `[${String(key)}]`).join('') ?? ''}: ${issue?.message}`,
    );
  }
  const ids = new Set<string>();
  for (const rule of parsed.data) {
    if (ids.has(rule.id)) throw new Error(`alertRules: rule id ${rule.id} is used twice`);
    ids.add(rule.id);
  }
  return parsed.data;
}

const past = (rule: ParsedAlertRule, value: number) => {
  switch (rule.op) {
    case '>':
      return value > rule.threshold;
    case '>=':
      return value >= rule.threshold;
    case '<':
      return value < rule.threshold;
    case '<=':
      return value <= rule.threshold;
  }
};

const sameRule = (a: ParsedAlertRule, b: ParsedAlertRule) =>
  a.metric === b.metric &&
  a.op === b.op &&
  a.threshold === b.threshold &&
  a.forSamples === b.forSamples &&
  a.severity === b.severity;

export class AlertRuleSet {
  #rules: ParsedAlertRule[];
  readonly #streaks = new Map<string, number>();
  readonly #raised: Set<string>;

  constructor(rules: readonly ParsedAlertRule[], raised: Iterable<string> = []) {
    this.#rules = [...rules];
    const ids = new Set(rules.map((rule) => rule.id));
    this.#raised = new Set([...raised].filter((id) => ids.has(id)));
  }

  get rules(): readonly ParsedAlertRule[] {
    return this.#rules;
  }

  /** Ids of the rules raised now. */
  get raised(): readonly string[] {
    return [...this.#raised];
  }

  /** The raises and clears this sample causes, in rule order. */
  check(at: number, metrics: Readonly<Record<string, number>>, firmwareVersion: string): AlertV1[] {
    const alerts: AlertV1[] = [];
    for (const rule of this.#rules) {
      const value = metrics[rule.metric];
      if (value === undefined || !Number.isFinite(value)) continue;
      if (past(rule, value)) {
        const streak = (this.#streaks.get(rule.id) ?? 0) + 1;
        this.#streaks.set(rule.id, streak);
        if (streak >= rule.forSamples && !this.#raised.has(rule.id)) {
          this.#raised.add(rule.id);
          alerts.push(thresholdAlert(rule, 'raised', at, value, firmwareVersion));
        }
      } else {
        this.#streaks.set(rule.id, 0);
        if (this.#raised.delete(rule.id))
          alerts.push(thresholdAlert(rule, 'cleared', at, value, firmwareVersion));
      }
    }
    return alerts;
  }

  /**
   * Replaces the rules (a new configuration). A raised rule that is gone or changed is cleared
   * (its episode ends with the rule); an unchanged one stays raised and keeps its streak.
   */
  replace(rules: readonly ParsedAlertRule[], at: number, firmwareVersion: string): AlertV1[] {
    const next = new Map(rules.map((rule) => [rule.id, rule]));
    const alerts: AlertV1[] = [];
    for (const rule of this.#rules) {
      const successor = next.get(rule.id);
      if (successor && sameRule(rule, successor)) continue;
      this.#streaks.delete(rule.id);
      if (this.#raised.delete(rule.id)) {
        const alert = thresholdAlert(rule, 'cleared', at, undefined, firmwareVersion);
        alerts.push({ ...alert, message: successor ? 'rule changed' : 'rule removed' });
      }
    }
    this.#rules = [...rules];
    return alerts;
  }
}

function thresholdAlert(
  rule: ParsedAlertRule,
  state: 'raised' | 'cleared',
  at: number,
  value: number | undefined,
  firmwareVersion: string,
): AlertV1 {
  return {
    v: 1,
    alertId: alertId(at, rule.id, state),
    kind: 'threshold',
    ruleId: rule.id,
    state,
    severity: rule.severity,
    at: Math.trunc(at),
    firmwareVersion,
    metric: rule.metric,
    ...(value !== undefined && { value }),
    op: rule.op,
    threshold: rule.threshold,
  };
}
