/**
 * One component's whole update, from wherever its record says it is. Call it once the update is
 * prepared, and again after every reboot it asks for, until the outcome is final:
 *
 * 1. install (Download, ArtifactInstall, NeedsArtifactReboot);
 * 2. a reboot it has not had yet: prepareReboot, return `installed-needs-reboot`;
 * 3. verifyAfterReboot, healthCheck, commit: `committed`;
 * 4. any failure: rollback; a rollback that needs a reboot: prepareReboot, return
 *    `rollback-needs-reboot` (after the reboot, the next call finishes it).
 *
 * Several components go all or nothing with the same calls in the order of
 * docs/update-modules.md ("Several components").
 */
import type { ComponentOutcome } from './component-work-dir';
import type { UpdateModules } from './update-modules';

export type ComponentUpdateOutcome =
  | ComponentOutcome
  /** Reboot the device, then call again. */
  | { readonly kind: 'installed-needs-reboot' }
  /** Rolled back, but the previous version runs only after a reboot: reboot, then call again. */
  | { readonly kind: 'rollback-needs-reboot'; readonly reason: string };

export async function runComponentUpdate(
  modules: UpdateModules,
  component: string,
): Promise<ComponentUpdateOutcome> {
  const rollBack = async (reason: string): Promise<ComponentUpdateOutcome> => {
    const result = await modules.rollback(component, reason);
    if (result.kind === 'rollback-needs-reboot') await modules.prepareReboot([component]);
    return result;
  };

  const installed = await modules.install(component);
  if (!installed.ok) return rollBack(installed.reason);
  if (installed.reboot !== 'No' && !installed.rebooted) {
    const prepared = await modules.prepareReboot([component]);
    return prepared.ok ? { kind: 'installed-needs-reboot' } : rollBack(prepared.reason);
  }
  for (const step of [modules.verifyAfterReboot, modules.healthCheck, modules.commit]) {
    const result = await step.call(modules, component);
    if (!result.ok) return rollBack(result.reason);
  }
  return { kind: 'committed' };
}
