/**
 * Which devices may no longer take a rollout's job: quarantined or retired since the rollout was
 * planned (domain/device-lifecycle.ts). Checked page by page as a wave's devices are grouped.
 */
export interface RolloutEligibility {
  /** The ids among `deviceIds` (a bounded page) that are quarantined, retired or gone. */
  ineligible(deviceIds: readonly string[]): Promise<ReadonlySet<string>>;
}
