import { describe, expect, it } from 'vitest';
import { spreadOverPlan } from '../../scripts/local-aws/fault-spread';

describe('spreadOverPlan', () => {
  const planned = Array.from({ length: 30 }, (_, i) => `d${i}`);
  const canary = planned.slice(0, 6);

  it('picks the fraction of devices evenly along the plan, the canary getting its share', () => {
    const bad = spreadOverPlan(planned, 0.2);

    expect(bad).toEqual(['d0', 'd5', 'd10', 'd15', 'd20', 'd25']);
    expect(bad.filter((id) => canary.includes(id))).toHaveLength(2);
  });

  it('puts at least one device in the canary for any fraction above 0', () => {
    for (const fraction of [0.01, 0.05, 0.1, 0.34, 0.5, 1]) {
      expect(spreadOverPlan(planned, fraction).filter((id) => canary.includes(id)).length).toBeGreaterThan(0);
    }
  });

  it('picks no device for a fraction of 0', () => {
    expect(spreadOverPlan(planned, 0)).toEqual([]);
  });
});
