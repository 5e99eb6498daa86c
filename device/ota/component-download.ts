/**
 * Gets one component's verified image into its partial file (`downloads/<sha256>.part`): when the
 * bandwidth policy lets it, as a delta rebuilt from the image the device keeps of the component
 * (falling back to the full image on any mismatch), else in full. Waits while the policy says
 * wait; a byte cap it cannot meet fails the component.
 *
 * Each transfer has a budget of download time from its signed length (`download-budget.ts`, with
 * the job's per-hardware-type limits over the device's); waiting here does not count, and the time
 * spent is saved in the job record as the transfer runs. A transfer that runs out of it fails
 * (`download-too-slow`, a delta patch too: the full image would come over the same link), never a
 * fall-back.
 */
import { rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import type { DeviceStateDir } from '../storage/device-state-dir';
import { sha256OfFile } from '../storage/file-digest';
import { downloadArtifact, type LinkShaper } from './artifact-download';
import { rebuildFromDelta } from './delta-rebuild';
import { type DownloadLimits, downloadBudget } from './download-budget';
import type { ComponentProgress } from './ota-job-record';
import { decideTransfer } from './transfer-decision';

export interface ComponentDownload {
  readonly dir: DeviceStateDir;
  readonly signal: AbortSignal;
  readonly timeFactor: number;
  readonly link?: LinkShaper | undefined;
  readonly limits?: DownloadLimits | undefined;
  readonly bandwidth?: (() => { policy: BandwidthPolicy | undefined; metered: boolean }) | undefined;
  readonly now: () => number;
  readonly log: (line: string) => void;
  /** The image the component's delta applies to (the active slot's, for the slots). */
  readonly base?: { readonly path: string; readonly size: number } | undefined;
  /** Saves the component's progress (transfer mode, download time) into the job record. */
  readonly save: (component: ComponentProgress) => Promise<void>;
}

export type ComponentFetch =
  | {
      readonly ok: true;
      readonly path: string;
      /** The component, with how it came and the bytes fetched (`bytesDownloaded`). */
      readonly component: ComponentProgress;
    }
  | { readonly ok: false; readonly reason: string };

export async function fetchComponent(
  context: ComponentDownload,
  start: ComponentProgress,
): Promise<ComponentFetch> {
  let component = start;
  const { image } = component;
  const { dir, signal, timeFactor, log } = context;
  const retryDelayMs = Math.max(1, 1000 * timeFactor);
  const save = async (next: ComponentProgress) => {
    component = next;
    await context.save(component);
  };
  const budgetOf = (signedLength: number) => ({
    budget: downloadBudget(signedLength, context.limits),
    spentMs: component.downloadMs ?? 0,
    timeFactor,
    onSpent: async (spentMs: number) => {
      signal.throwIfAborted();
      await save({ ...component, downloadMs: Math.round(spentMs) });
    },
  });
  // Downloaded before (the `downloading` stage, or before a restart): only checked again.
  const partial = dir.partialDownload(image.sha256);
  if ((await sizeOf(partial)) === image.size) {
    if ((await sha256OfFile(partial, signal)) === image.sha256)
      return {
        ok: true,
        path: partial,
        component: { ...component, bytesDownloaded: component.bytesDownloaded ?? image.size },
      };
    await rm(partial, { force: true });
  }
  for (;;) {
    const { policy, metered } = context.bandwidth?.() ?? { policy: undefined, metered: false };
    const delta = component.transfer !== 'full' && context.base ? component.delta : undefined;
    const decision = decideTransfer(policy, {
      metered,
      now: new Date(context.now()),
      image: { bytes: image.size },
      delta: delta ? { bytes: delta.size } : undefined,
    });
    if (decision.action === 'refuse') return { ok: false, reason: decision.reason };
    if (decision.action === 'wait') {
      const untilMs = decision.until ? decision.until.getTime() - context.now() : Number.POSITIVE_INFINITY;
      const pauseMs = Math.max(1, Math.min(untilMs, 60_000) * timeFactor);
      log(`waiting (${decision.reason}${decision.until ? ` until ${decision.until.toISOString()}` : ''})`);
      await sleep(pauseMs, undefined, { signal });
      continue;
    }
    if (decision.mode === 'delta' && delta && context.base) {
      if (component.transfer !== 'delta') await save({ ...component, transfer: 'delta' });
      const result = await rebuildFromDelta({
        patch: { url: delta.url, size: delta.size, sha256: delta.sha256 },
        baseImagePath: context.base.path,
        base: { sha256: delta.baseSha256, size: context.base.size },
        image: { sha256: image.sha256, size: image.size },
        partialPath: dir.partialDownload(delta.sha256),
        outputPath: dir.partialDownload(image.sha256),
        signal,
        link: context.link,
        retryDelayMs,
        log,
        ...budgetOf(delta.size),
      });
      signal.throwIfAborted();
      if (result.ok)
        return {
          ok: true,
          path: result.path,
          component: { ...component, bytesDownloaded: result.bytesDownloaded },
        };
      const tooSlow = /^delta-patch-download-too-slow: (.*)$/.exec(result.reason);
      if (tooSlow) return { ok: false, reason: `download-too-slow: delta patch ${tooSlow[1]}` };
      log(`delta failed (${result.reason}); falling back to the full image`);
      await save({ ...component, transfer: 'full', downloadMs: 0 });
      continue;
    }
    if (component.transfer !== 'full') await save({ ...component, transfer: 'full', downloadMs: 0 });
    const result = await downloadArtifact({
      url: image.url,
      size: image.size,
      sha256: image.sha256,
      partialPath: dir.partialDownload(image.sha256),
      signal,
      link: context.link,
      retryDelayMs,
      log,
      ...budgetOf(image.size),
    });
    if (!result.ok) return { ok: false, reason: result.reason };
    return { ok: true, path: result.path, component: { ...component, bytesDownloaded: image.size } };
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}
