/**
 * Bandwidth policy: how a device may spend its link on updates. Operators set one per device or
 * per site; the device gets the effective one through its shadow and decides each transfer itself
 * with `decideTransfer`, because only the device knows its link and its clock.
 *
 * - On a metered link the device takes deltas only (`delta-only`) or nothing at all (`wait`);
 *   either way, without a usable delta it waits for an unmetered link.
 * - `maxBytesPerUpdate` caps the bytes one update may fetch. An update above it is refused, not
 *   postponed: waiting would not make it smaller.
 * - `windows` are stretches of local wall-clock time (in `timeZone`) in which downloads may start.
 *   Outside them the device waits until the next one opens.
 *
 * Shared by the backend (validating what operators send) and the agent (deciding), so it is pure:
 * no I/O, and time only through the `now` it is given.
 */
import * as z from '../shared/zod-mini';
import { isInsideWindows, nextWindowOpening } from './download-window';
import { isKnownTimeZone } from './zoned-time';

export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);
export type Weekday = z.infer<typeof Weekday>;

const clock = z.string().check(z.regex(/^(?:[01]\d|2[0-3]):[0-5]\d$/, 'HH:MM, 00:00 to 23:59'));
const endClock = z.string().check(z.regex(/^(?:(?:[01]\d|2[0-3]):[0-5]\d|24:00)$/, 'HH:MM, 00:01 to 24:00'));

export const DownloadWindow = z
  .strictObject({
    /** Days the window opens on (for one that crosses midnight, the day it starts); all if absent. */
    days: z.optional(z.array(Weekday).check(z.minLength(1), z.maxLength(7))),
    start: clock,
    /** Exclusive. Before `start` means the window crosses midnight. */
    end: endClock,
  })
  .check(
    z.refine((window) => window.start !== window.end, {
      message: 'start and end must differ (leave out windows to allow any time)',
      path: ['end'],
    }),
  );
export type DownloadWindow = z.infer<typeof DownloadWindow>;

export const BandwidthPolicy = z.strictObject({
  onMetered: z.enum(['delta-only', 'wait']),
  maxBytesPerUpdate: z.optional(z.number().check(z.int(), z.positive(), z.lte(Number.MAX_SAFE_INTEGER))),
  windows: z.optional(z.array(DownloadWindow).check(z.minLength(1), z.maxLength(16))),
  /** IANA zone the windows are in: the device's local time (e.g. `Europe/Berlin`). */
  timeZone: z
    .string()
    .check(z.maxLength(64), z.refine(isKnownTimeZone, 'an IANA time zone name, e.g. Europe/Berlin')),
});
export type BandwidthPolicy = z.infer<typeof BandwidthPolicy>;

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

/** Where the effective policy lives in a device's classic shadow: `state.desired.edgeops.bandwidthPolicy`. */
export const SHADOW_NAMESPACE = 'edgeops';
export const SHADOW_BANDWIDTH_POLICY_KEY = 'bandwidthPolicy';

/**
 * The policy as written into a shadow document (desired by the backend, reported by the device),
 * or null to remove it. Every optional field is present, as null when unset: a shadow update
 * merges objects key by key, so a field left out would keep the value an earlier policy had.
 * (Arrays such as `windows` are replaced whole.)
 */
export function bandwidthPolicyShadowValue(
  policy: BandwidthPolicy | undefined,
): Record<string, unknown> | null {
  if (!policy) return null;
  return { maxBytesPerUpdate: null, windows: null, ...policy };
}

/** The policy that applies to a device: its own, else its site's, else none. */
export function effectiveBandwidthPolicy(
  own: BandwidthPolicy | undefined,
  site: BandwidthPolicy | undefined,
): { readonly policy: BandwidthPolicy | undefined; readonly source: 'device' | 'site' | 'none' } {
  if (own) return { policy: own, source: 'device' };
  if (site) return { policy: site, source: 'site' };
  return { policy: undefined, source: 'none' };
}
