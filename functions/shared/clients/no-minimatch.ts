/**
 * Lambda bundles take this module in place of `minimatch` (an esbuild alias in
 * lib/edgeops-function.ts). @tufjs/models loads it only to match a delegated role's path patterns
 * (`DelegatedRole.isDelegatedPath`); the trust publisher signs a repository without delegations,
 * so nothing calls it, and its 28 KB would put the publisher over the bundle goal. A call fails
 * here, saying so: it can refuse, never wrongly accept.
 */
export function minimatch(): never {
  throw new Error(
    'minimatch is not bundled into EdgeOps Lambdas: TUF delegations are not supported (see the alias in lib/edgeops-function.ts)',
  );
}
