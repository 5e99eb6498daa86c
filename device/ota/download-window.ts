/**
 * Download windows: when, in a device's local time, it may fetch an update. A window is a daily
 * stretch of wall-clock time, on some weekdays or every day; it may cross midnight (`22:00`–
 * `06:00`), and then `days` names the day it opens on.
 *
 * Wall-clock semantics throughout: `01:00`–`05:00` is four hours of the clock, so it lasts three
 * or five real hours on the nights daylight saving starts or ends; a window the clock skips
 * (`02:00`–`03:00` in Berlin on the last Sunday of March) does not open that day.
 */
import type { DownloadWindow, Weekday } from '../../contract/bandwidth-policy';
import { DAY, startOfWallDay, wallOf, weekdayOfWall, ZoneTimeline } from '../../contract/zoned-time';

const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
const MINUTE = 60_000;
/** Look this many local days ahead: a window opens at least once a week unless its days are empty. */
const HORIZON_DAYS = 9;

/** `HH:MM` (or `24:00`) as minutes after midnight. */
export function minutesOfDay(clock: string): number {
  const [hours, minutes] = clock.split(':').map(Number);
  return (hours ?? 0) * 60 + (minutes ?? 0);
}

const opensOn = (window: DownloadWindow, weekday: number) =>
  window.days === undefined || window.days.includes(WEEKDAYS[weekday] as Weekday);

/** True if the clock in `timeZone` is inside one of the windows at `instant`. */
export function isInsideWindows(
  windows: readonly DownloadWindow[],
  timeZone: string,
  instant: number,
): boolean {
  const wall = wallOf(instant, timeZone);
  const midnight = startOfWallDay(wall);
  const minute = (wall - midnight) / MINUTE;
  const today = weekdayOfWall(midnight);
  const yesterday = (today + 6) % 7;
  return windows.some((window) => {
    const start = minutesOfDay(window.start);
    const end = minutesOfDay(window.end);
    if (start < end) return opensOn(window, today) && minute >= start && minute < end;
    return (opensOn(window, today) && minute >= start) || (opensOn(window, yesterday) && minute < end);
  });
}

/**
 * The first instant after `instant` at which a window is open, or undefined if none opens within
 * the next nine days (only possible if every opening falls into a daylight-saving gap).
 *
 * A window can open in two ways: the clock reaches its start, or the clock jumps into it when the
 * offset changes (in autumn the clock goes back into a window it just left). Both kinds of
 * instants are collected and the earliest one that is really inside a window wins.
 */
export function nextWindowOpening(
  windows: readonly DownloadWindow[],
  timeZone: string,
  instant: number,
): number | undefined {
  const timeline = new ZoneTimeline(timeZone, instant - 3 * DAY, instant + (HORIZON_DAYS + 2) * DAY);
  const today = startOfWallDay(wallOf(instant, timeZone));
  const candidates = [...timeline.transitions];
  for (let day = -1; day <= HORIZON_DAYS; day++) {
    const midnight = today + day * DAY;
    for (const window of windows) {
      if (!opensOn(window, weekdayOfWall(midnight))) continue;
      const opening = timeline.firstInstantAtOrAfterWall(midnight + minutesOfDay(window.start) * MINUTE);
      if (opening !== undefined) candidates.push(opening);
    }
  }
  let next: number | undefined;
  for (const candidate of candidates)
    if (
      candidate > instant &&
      (next === undefined || candidate < next) &&
      isInsideWindows(windows, timeZone, candidate)
    )
      next = candidate;
  return next;
}
