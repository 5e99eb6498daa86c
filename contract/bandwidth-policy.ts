/**
 * Bandwidth policy: how a device may spend its link on updates. Operators set one per device or
 * per site; the device gets the effective one through its shadow and decides each transfer itself
 * (device/ota/transfer-decision.ts), because only the device knows its link and its clock.
 *
 * - On a metered link the device takes deltas only (`delta-only`) or nothing at all (`wait`);
 *   either way, without a usable delta it waits for an unmetered link.
 * - `maxBytesPerUpdate` caps the bytes one update may fetch. An update above it is refused, not
 *   postponed: waiting would not make it smaller.
 * - `windows` are stretches of local wall-clock time (in `timeZone`) in which downloads may start.
 *   Outside them the device waits until the next one opens.
 *
 * Part of the contract: the backend validates what operators send with it and writes it into the
 * shadow; the device reads it from there.
 */

import * as z from './zod-mini';
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
