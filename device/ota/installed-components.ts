/**
 * What the device runs, per component (`installed-components.json`): name → version, image
 * SHA-256, handler, and the release that brought it. Written when an update commits, after every
 * component of it is committed; read when the next release arrives, to skip a component whose
 * signed image the device already runs and to tell its handler the version it replaces.
 *
 * The A/B slot component is recorded here too, but whether it is already installed is judged by
 * the active slot's own metadata (`slots/<X>/meta.json`), which a revert or a factory reset keeps
 * true. Components a later release no longer lists stay installed and recorded.
 */
import { z } from 'zod';
import { type DurabilityOptions, readJsonFile, writeJsonAtomic } from '../storage/atomic-file';

export const InstalledComponent = z.strictObject({
  version: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  handler: z.string().min(1),
  releaseId: z.string().min(1),
  installedAt: z.number().int(),
});
export type InstalledComponent = z.infer<typeof InstalledComponent>;

const InstalledComponents = z.record(z.string(), InstalledComponent);

export class InstalledComponentsStore {
  constructor(
    private readonly path: string,
    private readonly durability: DurabilityOptions,
  ) {}

  async read(): Promise<Readonly<Record<string, InstalledComponent>>> {
    return (await readJsonFile(this.path, InstalledComponents)) ?? {};
  }

  /** Records `changes` over what is installed; the rest stays. One atomic write. */
  async record(changes: Readonly<Record<string, InstalledComponent>>): Promise<void> {
    await writeJsonAtomic(this.path, { ...(await this.read()), ...changes }, this.durability);
  }
}
