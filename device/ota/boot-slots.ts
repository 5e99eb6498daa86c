/**
 * A/B firmware slots on disk and the boot state that picks one (`boot.json`):
 *
 * - `active` is the confirmed slot, the one the device falls back to;
 * - `pending` is a freshly installed slot on trial, booted at most `maxTrialBoots` times (default
 *   3, like U-Boot's bootcount/bootlimit) before it is confirmed (it becomes `active`) or
 *   abandoned (it is dropped and `active` boots);
 * - `trialBoots` counts boots into `pending`. It is incremented before the trial boot runs, so a
 *   device that dies during a trial finds the counter spent on its next start: it tries again
 *   while boots are left (a power cut is not a bad update) and reverts once they are all spent.
 *
 * Every change is one atomic file replacement, so a power cut leaves either the old or the new state.
 */
import { createHash } from 'node:crypto';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import {
  type DurabilityOptions,
  readJsonFile,
  syncDirectory,
  writeJsonAtomic,
  writePoint,
} from '../storage/atomic-file';
import type { DeviceStateDir, Slot } from '../storage/device-state-dir';
import { sha256OfFile } from '../storage/file-digest';

/** Boots a trial slot gets before it must have confirmed itself, unless configured otherwise. */
export const DEFAULT_MAX_TRIAL_BOOTS = 3;
/** The range `maxTrialBoots` may be configured in. */
export const TRIAL_BOOTS_RANGE = { min: 1, max: 10 } as const;

/** Checks a configured trial-boot limit: an integer in 1..10. */
export function checkMaxTrialBoots(value: number): number {
  if (!Number.isInteger(value) || value < TRIAL_BOOTS_RANGE.min || value > TRIAL_BOOTS_RANGE.max)
    throw new RangeError(
      `maxTrialBoots must be an integer from ${TRIAL_BOOTS_RANGE.min} to ${TRIAL_BOOTS_RANGE.max}, got ${value}`,
    );
  return value;
}

const SlotName = z.enum(['A', 'B']);

export const BootState = z.strictObject({
  active: SlotName,
  pending: SlotName.nullable(),
  trialBoots: z.number().int().nonnegative(),
});
export type BootState = z.infer<typeof BootState>;

export const SlotMeta = z.looseObject({
  version: z.string().min(1),
  releaseId: z.string().optional(),
  sha256: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  installedAt: z.number().int(),
});
export type SlotMeta = z.infer<typeof SlotMeta>;

export type BootDecision =
  /** Boot the confirmed slot. */
  | { readonly kind: 'confirmed'; readonly slot: Slot }
  /** Boot the pending slot on trial; `next` (counter spent) must be on disk before it runs. */
  | { readonly kind: 'trial'; readonly slot: Slot; readonly next: BootState }
  /** The trial slot had its boots and never confirmed: drop it and boot the confirmed slot. */
  | {
      readonly kind: 'revert-unconfirmed';
      readonly slot: Slot;
      readonly next: BootState;
      /** Trial boots spent without a confirmation. */
      readonly trialBoots: number;
    };

/** What one boot does, from the boot state alone. */
export function decideBoot(state: BootState, maxTrialBoots = DEFAULT_MAX_TRIAL_BOOTS): BootDecision {
  if (state.pending === null || state.pending === state.active)
    return { kind: 'confirmed', slot: state.active };
  if (state.trialBoots >= maxTrialBoots)
    return {
      kind: 'revert-unconfirmed',
      slot: state.active,
      next: reverted(state),
      trialBoots: state.trialBoots,
    };
  return {
    kind: 'trial',
    slot: state.pending,
    next: { ...state, trialBoots: state.trialBoots + 1 },
  };
}

export const committed = (slot: Slot): BootState => ({ active: slot, pending: null, trialBoots: 0 });
export const reverted = (state: BootState): BootState => ({
  active: state.active,
  pending: null,
  trialBoots: 0,
});
export const withTrial = (state: BootState, slot: Slot): BootState => ({
  ...state,
  pending: slot,
  trialBoots: 0,
});

export class BootSlots {
  constructor(
    private readonly dir: DeviceStateDir,
    private readonly durability: DurabilityOptions = {},
  ) {}

  /** The boot state; a fresh state dir gets slot A with the factory firmware and is confirmed. */
  async initialize(factoryVersion: string, factoryImage?: Uint8Array): Promise<BootState> {
    const existing = await readJsonFile(this.dir.bootFile, BootState);
    if (existing) return existing;
    await mkdir(this.dir.slotDir('A'), { recursive: true });
    const image = factoryImage ?? Buffer.from(`factory image ${factoryVersion}\n`);
    await writeFile(this.dir.slotImage('A'), image);
    await writeJsonAtomic(
      this.dir.slotMeta('A'),
      {
        version: factoryVersion,
        installedAt: Date.now(),
        sha256: createHash('sha256').update(image).digest('hex'),
        size: image.byteLength,
      } satisfies SlotMeta,
      this.durability,
    );
    const state = committed('A');
    await this.write(state);
    return state;
  }

  async read(): Promise<BootState> {
    const state = await readJsonFile(this.dir.bootFile, BootState);
    if (!state) throw new Error(`No boot state in ${this.dir.root}`);
    return state;
  }

  async write(state: BootState): Promise<void> {
    await writeJsonAtomic(this.dir.bootFile, BootState.parse(state), this.durability);
  }

  async readMeta(slot: Slot): Promise<SlotMeta | undefined> {
    return readJsonFile(this.dir.slotMeta(slot), SlotMeta);
  }

  async writeMeta(slot: Slot, meta: SlotMeta): Promise<void> {
    await writeJsonAtomic(this.dir.slotMeta(slot), SlotMeta.parse(meta), this.durability);
  }

  /**
   * Moves a verified image into `slot` (same file system: a rename). The slot's metadata goes
   * first and comes back last, so a half-written slot is never taken for an installed one.
   */
  async install(slot: Slot, verifiedImage: string, meta: SlotMeta): Promise<void> {
    await mkdir(this.dir.slotDir(slot), { recursive: true });
    writePoint(this.dir.slotMeta(slot), this.durability);
    await rm(this.dir.slotMeta(slot), { force: true });
    writePoint(this.dir.slotImage(slot), this.durability);
    await rename(verifiedImage, this.dir.slotImage(slot));
    if (this.durability.fsync !== false) await syncDirectory(this.dir.slotDir(slot));
    await this.writeMeta(slot, meta);
  }

  /** True when the slot holds exactly the image its metadata describes. */
  async holdsImage(slot: Slot, sha256: string, size: number): Promise<boolean> {
    const meta = await this.readMeta(slot);
    if (meta?.sha256 !== sha256 || meta.size !== size) return false;
    try {
      if ((await stat(this.dir.slotImage(slot))).size !== size) return false;
      return (await sha256OfFile(this.dir.slotImage(slot))) === sha256;
    } catch {
      return false;
    }
  }
}
