/**
 * Local wall-clock time in an IANA time zone, from the platform's own tz data (`Intl`): no time
 * zone library, and the backend (Lambda) and the device agree as long as their tz data does.
 *
 * A "wall" value is a local date and time encoded as if it were UTC milliseconds
 * (`Date.UTC(y, m, d, h, min)`): it sorts and adds like a timestamp but names what a clock on the
 * wall shows. Around daylight-saving changes a wall time can occur twice (autumn) or never
 * (spring); `firstInstantAtOrAfterWall` answers both without guessing.
 */

const HOUR = 3_600_000;
export const DAY = 24 * HOUR;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** True if `Intl` knows the zone (IANA names such as `Europe/Berlin`, `UTC`). */
export function isKnownTimeZone(timeZone: string): boolean {
  // Intl also takes offsets such as `+01:00` on some platforms; a policy must name a zone.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/.test(timeZone)) return false;
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall value (local time as fake-UTC ms, whole seconds) of an instant in a zone. */
export function wallOf(instant: number, timeZone: string): number {
  const parts: Record<string, number> = {};
  for (const part of formatterFor(timeZone).formatToParts(instant))
    if (part.type !== 'literal') parts[part.type] = Number(part.value);
  return Date.UTC(
    parts.year ?? 1970,
    (parts.month ?? 1) - 1,
    parts.day ?? 1,
    parts.hour ?? 0,
    parts.minute ?? 0,
    parts.second ?? 0,
  );
}

/** The zone's offset from UTC at an instant, in ms (whole seconds). */
export function offsetAt(instant: number, timeZone: string): number {
  const wholeSecond = Math.floor(instant / 1000) * 1000;
  return wallOf(wholeSecond, timeZone) - wholeSecond;
}

/** Midnight of the wall value's local day (still a wall value). */
export const startOfWallDay = (wall: number) => Math.floor(wall / DAY) * DAY;

/** Day of week of a wall value: 0 = Sunday … 6 = Saturday. */
export const weekdayOfWall = (wall: number) => new Date(wall).getUTCDay();

/** A stretch of time with one offset: from `from` (inclusive) to the next segment's `from`. */
interface Segment {
  readonly from: number;
  readonly offset: number;
}

/**
 * The zone's offsets between `from` and `to`, as segments. Offsets are sampled every hour and
 * each change is located to the millisecond, so two changes less than an hour apart (which no
 * real zone has) would be missed.
 */
export class ZoneTimeline {
  private readonly segments: Segment[];

  constructor(
    readonly timeZone: string,
    from: number,
    readonly to: number,
  ) {
    const segments: Segment[] = [{ from: Number.NEGATIVE_INFINITY, offset: offsetAt(from, timeZone) }];
    let previousAt = from;
    let previous = segments[0]?.offset ?? 0;
    for (let at = from + HOUR; at < to + HOUR; at += HOUR) {
      const offset = offsetAt(at, timeZone);
      if (offset !== previous) {
        segments.push({ from: this.changeBetween(previousAt, at, previous), offset });
        previous = offset;
      }
      previousAt = at;
    }
    this.segments = segments;
  }

  /** Instants at which the offset changes (daylight saving starts or ends), in order. */
  get transitions(): number[] {
    return this.segments.slice(1).map((segment) => segment.from);
  }

  /**
   * The first instant at which a clock in the zone shows `wall` or later: the instant of `wall`
   * itself, the earlier one if it occurs twice, or the end of the gap if the clock skips it.
   * Undefined beyond the timeline's end.
   */
  firstInstantAtOrAfterWall(wall: number): number | undefined {
    for (let i = 0; i < this.segments.length; i++) {
      const segment = this.segments[i] as Segment;
      const end = this.segments[i + 1]?.from ?? Number.POSITIVE_INFINITY;
      if (wall < segment.from + segment.offset) return segment.from;
      const instant = wall - segment.offset;
      if (instant < end) return instant <= this.to ? instant : undefined;
    }
    return undefined;
  }

  /** The first instant in (low, high] whose offset is no longer `before`. */
  private changeBetween(low: number, high: number, before: number): number {
    let lo = low;
    let hi = high;
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (offsetAt(mid, this.timeZone) === before) lo = mid;
      else hi = mid;
    }
    return hi;
  }
}
