/**
 * The check a trial boot must pass before its slot is confirmed. Pluggable: a real device would
 * probe its services; the simulator plugs in its fault profiles. The default passes when the
 * booted slot holds exactly the image that was installed (its metadata's size and SHA-256).
 */
import { stat } from 'node:fs/promises';
import type { Slot } from '../storage/device-state-dir';
import { sha256OfFile } from '../storage/file-digest';
import type { SlotMeta } from './boot-slots';

export interface TrialBoot {
  readonly deviceId: string;
  readonly slot: Slot;
  readonly version: string;
  readonly imagePath: string;
  readonly meta: SlotMeta;
  /** Aborted if the agent stops or crashes during the check. */
  readonly signal: AbortSignal;
}

export type HealthVerdict = { readonly healthy: true } | { readonly healthy: false; readonly detail: string };

export type HealthCheck = (trial: TrialBoot) => Promise<HealthVerdict>;

export const imageMatchesMetadata: HealthCheck = async ({ imagePath, meta, signal }) => {
  if (meta.sha256 === undefined || meta.size === undefined) return { healthy: true };
  try {
    if ((await stat(imagePath)).size !== meta.size) return { healthy: false, detail: 'image size differs' };
    if ((await sha256OfFile(imagePath, signal)) !== meta.sha256)
      return { healthy: false, detail: 'image SHA-256 differs' };
  } catch (error) {
    if (signal.aborted) throw error;
    return { healthy: false, detail: `image unreadable: ${(error as Error).message}` };
  }
  return { healthy: true };
};
