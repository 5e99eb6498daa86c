/**
 * What the device does about one update now, under its effective bandwidth policy
 * (contract/bandwidth-policy.ts): download in full or as a delta, wait, or refuse. Pure: no I/O,
 * and time only through the `now` it is given.
 */
import type { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { isInsideWindows, nextWindowOpening } from './download-window';

export interface TransferRequest {
  /** The link the device is on right now is metered (cellular, satellite). */
  readonly metered: boolean;
  readonly now: Date;
  /** The full image. */
  readonly image: { readonly bytes: number };
  /** A delta from the image the device runs, if the release offers one. */
  readonly delta?: { readonly bytes: number } | undefined;
}

export type TransferWaitReason =
  /** Outside every download window; `until` is when the next one opens. */
  | 'outside-download-window'
  /** Metered link and `onMetered: wait`: wait for an unmetered link. */
  | 'metered-link'
  /** Metered link and `onMetered: delta-only`, but no delta smaller than the image. */
  | 'metered-link-no-delta';

export type TransferDecision =
  | { readonly action: 'download'; readonly mode: 'delta' | 'full'; readonly bytes: number }
  /** Decide again at `until` (if given) or when the link changes. */
  | { readonly action: 'wait'; readonly until?: Date; readonly reason: TransferWaitReason }
  /** Final for this update: no link or time will change it. */
  | { readonly action: 'refuse'; readonly reason: `byte-cap-exceeded: ${string}` };

/**
 * What to do about one update now. The delta is taken whenever it is offered and smaller than the
 * image; every rule is then applied to that cheapest transfer, in this order:
 *
 * 1. more bytes than `maxBytesPerUpdate` → refuse (`byte-cap-exceeded: needs N bytes, cap M`);
 * 2. outside every window → wait until the next window opens;
 * 3. metered link → wait (`onMetered: wait`, or `delta-only` with no usable delta);
 * 4. otherwise download. No policy at all → download.
 */
export function decideTransfer(
  policy: BandwidthPolicy | undefined,
  request: TransferRequest,
): TransferDecision {
  const useDelta = request.delta !== undefined && request.delta.bytes < request.image.bytes;
  const mode = useDelta ? 'delta' : 'full';
  const bytes = useDelta && request.delta ? request.delta.bytes : request.image.bytes;
  if (!policy) return { action: 'download', mode, bytes };

  if (policy.maxBytesPerUpdate !== undefined && bytes > policy.maxBytesPerUpdate)
    return {
      action: 'refuse',
      reason: `byte-cap-exceeded: needs ${bytes} bytes, cap ${policy.maxBytesPerUpdate}`,
    };

  const now = request.now.getTime();
  if (policy.windows && !isInsideWindows(policy.windows, policy.timeZone, now)) {
    const opens = nextWindowOpening(policy.windows, policy.timeZone, now);
    return {
      action: 'wait',
      reason: 'outside-download-window',
      ...(opens !== undefined ? { until: new Date(opens) } : {}),
    };
  }

  if (request.metered) {
    if (policy.onMetered === 'wait') return { action: 'wait', reason: 'metered-link' };
    if (!useDelta) return { action: 'wait', reason: 'metered-link-no-delta' };
  }
  return { action: 'download', mode, bytes };
}

/** True if the policy lets a download start at `now` as far as its windows go (no windows: always). */
export function insideDownloadWindow(policy: BandwidthPolicy | undefined, now: Date): boolean {
  return !policy?.windows || isInsideWindows(policy.windows, policy.timeZone, now.getTime());
}

/** When the policy's next window opens after `now`; undefined without windows. */
export function nextDownloadWindow(policy: BandwidthPolicy | undefined, now: Date): Date | undefined {
  if (!policy?.windows) return undefined;
  const opens = nextWindowOpening(policy.windows, policy.timeZone, now.getTime());
  return opens === undefined ? undefined : new Date(opens);
}
