import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../functions/domain/errors';
import { type PlanDevice, planWaves, resolveWaveCounts } from '../../functions/domain/wave-plan';

function fleet(n: number, hardware = ['rpi4', 'jetson'], sites = ['a', 'b', 'c']): PlanDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    deviceId: `dev-${i}`,
    hardwareType: hardware[i % hardware.length] as string,
    site: sites[Math.floor(i / hardware.length) % sites.length] as string,
  }));
}

const threeWaves = [{ size: { count: 6 } }, { size: { percent: 30 } }, { size: { percent: 100 } }];

describe('planWaves', () => {
  it('gives the same plan for the same input', () => {
    const a = planWaves({ seed: 'r1', devices: fleet(50), waves: threeWaves });
    const b = planWaves({ seed: 'r1', devices: fleet(50).reverse(), waves: threeWaves });
    expect(b).toEqual(a);
  });

  it('covers every hardware type × site in the canary when its size allows', () => {
    const devices = fleet(60);
    const plan = planWaves({ seed: 'r1', devices, waves: threeWaves });

    const canary = new Set(plan.waves[0]?.deviceIds);
    const covered = new Set(
      devices.filter((d) => canary.has(d.deviceId)).map((d) => `${d.hardwareType}/${d.site}`),
    );
    expect(covered.size).toBe(6);
    expect(plan.strata).toEqual({ total: 6, coveredByCanary: 6 });
  });

  it('covers the largest strata first when the canary is smaller than the strata count', () => {
    const devices = [...fleet(12), { deviceId: 'x-1', hardwareType: 'rare', site: 'z' }];
    const plan = planWaves({
      seed: 's',
      devices,
      waves: [{ size: { count: 2 } }, { size: { percent: 100 } }],
    });
    expect(plan.strata.coveredByCanary).toBe(2);
    expect(plan.waves[0]?.deviceIds).not.toContain('x-1');
  });

  it('leaves out and reports devices held by another active rollout, unless forced', () => {
    const busy = new Map([['dev-3', 'rollout-9']]);
    const plan = planWaves({ seed: 's', devices: fleet(10), waves: threeWaves.slice(1), busy });
    expect(plan.excluded).toEqual([{ deviceId: 'dev-3', reason: 'in active rollout rollout-9' }]);
    expect(plan.waves.flatMap((w) => w.deviceIds)).not.toContain('dev-3');

    const forced = planWaves({
      seed: 's',
      devices: fleet(10),
      waves: threeWaves.slice(1),
      busy,
      force: true,
    });
    expect(forced.waves.flatMap((w) => w.deviceIds)).toContain('dev-3');
  });

  it('refuses a target with no eligible device', () => {
    expect(() => planWaves({ seed: 's', devices: [], waves: threeWaves })).toThrow(ValidationError);
  });

  it('places every eligible device in exactly one wave, the last taking the rest', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 3, max: 400 }),
        fc.array(
          fc.oneof(
            fc.record({ count: fc.integer({ min: 1, max: 5 }) }),
            fc.record({ percent: fc.integer({ min: 1, max: 40 }) }),
          ),
          {
            minLength: 1,
            maxLength: 3,
          },
        ),
        fc.string(),
        (n, sizes, seed) => {
          const waves = [...sizes.map((size) => ({ size })), { size: { percent: 100 } }];
          let plan: ReturnType<typeof planWaves>;
          try {
            plan = planWaves({ seed, devices: fleet(n), waves });
          } catch (error) {
            return error instanceof ValidationError;
          }
          const ids = plan.waves.flatMap((w) => w.deviceIds);
          return (
            ids.length === n && new Set(ids).size === n && plan.waves.every((w) => w.deviceIds.length >= 1)
          );
        },
      ),
    );
  });
});

describe('resolveWaveCounts', () => {
  it('turns percents into counts of the target and gives the last wave the rest', () => {
    expect(
      resolveWaveCounts(
        [{ size: { percent: 5 } }, { size: { percent: 25 } }, { size: { percent: 100 } }],
        100,
      ),
    ).toEqual([5, 25, 70]);
  });

  it.each([
    [[{ size: { count: 0 } }, { size: { percent: 100 } }], 'waves.0.size'],
    [[{ size: { percent: 120 } }], 'waves.0.size'],
    [[{ size: { count: 10 } }, { size: { count: 1 } }], 'waves'],
    [[], 'waves'],
  ])('refuses impossible sizes %j', (waves, field) => {
    expect(() => resolveWaveCounts(waves, 10)).toThrow(
      expect.objectContaining({ issues: [expect.objectContaining({ field })] }),
    );
  });
});
