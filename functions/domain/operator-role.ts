/**
 * Operator roles, each including the ones before it:
 * - viewer: reads the fleet, releases and rollouts;
 * - operator: also registers devices and runs rollouts;
 * - admin: also retires devices and manages keys.
 */
export const OPERATOR_ROLES = ['viewer', 'operator', 'admin'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

/** The strongest role among an identity's groups, or undefined when it holds none of ours. */
export function strongestRole(groups: readonly string[]): OperatorRole | undefined {
  return OPERATOR_ROLES.findLast((role) => groups.includes(role));
}

export function roleAllows(held: OperatorRole | undefined, required: OperatorRole): boolean {
  return held !== undefined && OPERATOR_ROLES.indexOf(held) >= OPERATOR_ROLES.indexOf(required);
}
