/**
 * Which devices of a planned rollout to make fail, for a demo: `fraction` of them, every
 * 1/fraction-th in plan order starting with the first, so each wave, the canary first, holds its
 * share (at least one device when the fraction is above 0).
 */
export function spreadOverPlan(planned: readonly string[], fraction: number): string[] {
  if (!(fraction > 0) || planned.length === 0) return [];
  const count = Math.min(planned.length, Math.max(1, Math.round(planned.length * fraction)));
  const step = planned.length / count;
  return Array.from({ length: count }, (_, i) => planned[Math.floor(i * step)]).filter(
    (id): id is string => id !== undefined,
  );
}
