/**
 * Timeouts on real I/O (the device's TUF metadata fetches) under a time factor.
 *
 * A time factor below 1 runs device time faster: every wait is multiplied by it, so a simulated
 * fleet does in a wall-clock second what real devices spread over 1/timeFactor seconds. The
 * network is not simulated, though: all those fetches land on one host at once and each takes
 * longer, not shorter. A timeout that guards real I/O therefore grows as 1/timeFactor, up to ten
 * times its base: a connection that really hangs (a lost handshake under load) must still end
 * and be retried soon enough. In the field (timeFactor 1) it is the base value.
 */
export const MAX_IO_TIMEOUT_SCALE = 10;

export function ioTimeoutMs(baseMs: number, timeFactor = 1): number {
  if (!(timeFactor > 0) || timeFactor >= 1) return baseMs;
  return baseMs * Math.min(1 / timeFactor, MAX_IO_TIMEOUT_SCALE);
}
