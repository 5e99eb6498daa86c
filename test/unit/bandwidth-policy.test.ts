import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BandwidthPolicy, type DownloadWindow } from '../../contract/bandwidth-policy';
import { decideTransfer, insideDownloadWindow, nextDownloadWindow } from '../../device/ota/transfer-decision';

const policy = (overrides: Partial<BandwidthPolicy> = {}): BandwidthPolicy =>
  BandwidthPolicy.parse({ onMetered: 'delta-only', timeZone: 'UTC', ...overrides });
const at = (iso: string) => new Date(iso);
const unmetered = (now: string, image = 1000, delta?: number) => ({
  metered: false,
  now: at(now),
  image: { bytes: image },
  ...(delta !== undefined ? { delta: { bytes: delta } } : {}),
});

describe('BandwidthPolicy schema', () => {
  it('accepts a full policy, windows crossing midnight and ending at 24:00', () => {
    const input = {
      onMetered: 'wait',
      maxBytesPerUpdate: 50_000_000,
      windows: [
        { days: ['sat', 'sun'], start: '00:00', end: '24:00' },
        { start: '22:30', end: '05:00' },
      ],
      timeZone: 'Europe/Berlin',
    };
    expect(BandwidthPolicy.parse(input)).toEqual(input);
  });

  it.each([
    [{ onMetered: 'never' }, 'onMetered'],
    [{ maxBytesPerUpdate: 0 }, 'maxBytesPerUpdate'],
    [{ maxBytesPerUpdate: 1.5 }, 'maxBytesPerUpdate'],
    [{ windows: [] }, 'windows'],
    [{ windows: [{ start: '24:00', end: '02:00' }] }, 'windows.0.start'],
    [{ windows: [{ start: '7:00', end: '08:00' }] }, 'windows.0.start'],
    [{ windows: [{ start: '07:00', end: '07:60' }] }, 'windows.0.end'],
    [{ windows: [{ start: '07:00', end: '07:00' }] }, 'windows.0.end'],
    [{ windows: [{ days: ['monday'], start: '07:00', end: '08:00' }] }, 'windows.0.days.0'],
    [{ windows: [{ days: [], start: '07:00', end: '08:00' }] }, 'windows.0.days'],
    [{ windows: [{ start: '07:00', end: '08:00', tz: 'UTC' }] }, 'windows.0'],
    [{ timeZone: 'Mars/Olympus_Mons' }, 'timeZone'],
    [{ timeZone: '+01:00' }, 'timeZone'],
    [{ timeZone: '' }, 'timeZone'],
    [{ extra: true }, ''],
  ])('refuses %j, naming %s', (overrides, field) => {
    const result = BandwidthPolicy.safeParse({ onMetered: 'delta-only', timeZone: 'UTC', ...overrides });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((issue) => issue.path.join('.'))).toContain(field);
  });

  it('requires onMetered and timeZone', () => {
    const result = BandwidthPolicy.safeParse({});
    expect(result.error?.issues.map((issue) => issue.path.join('.')).sort()).toEqual([
      'onMetered',
      'timeZone',
    ]);
  });
});

describe('decideTransfer: delta, metered link, byte cap', () => {
  it('without a policy downloads, taking the delta when one is offered and smaller', () => {
    expect(decideTransfer(undefined, unmetered('2026-01-01T00:00:00Z'))).toEqual({
      action: 'download',
      mode: 'full',
      bytes: 1000,
    });
    expect(decideTransfer(undefined, unmetered('2026-01-01T00:00:00Z', 1000, 100))).toEqual({
      action: 'download',
      mode: 'delta',
      bytes: 100,
    });
    expect(decideTransfer(undefined, unmetered('2026-01-01T00:00:00Z', 1000, 1000))).toMatchObject({
      mode: 'full',
    });
    expect(
      decideTransfer(undefined, { ...unmetered('2026-01-01T00:00:00Z', 1000, 100), metered: true }),
    ).toEqual({ action: 'download', mode: 'delta', bytes: 100 });
  });

  it('on a metered link with delta-only takes a smaller delta, and otherwise waits for another link', () => {
    const p = policy({ onMetered: 'delta-only' });
    const metered = (delta?: number) => ({
      ...unmetered('2026-01-01T00:00:00Z', 1000, delta),
      metered: true,
    });
    expect(decideTransfer(p, metered(100))).toEqual({ action: 'download', mode: 'delta', bytes: 100 });
    expect(decideTransfer(p, metered())).toEqual({ action: 'wait', reason: 'metered-link-no-delta' });
    expect(decideTransfer(p, metered(2000))).toEqual({ action: 'wait', reason: 'metered-link-no-delta' });
    expect(decideTransfer(p, { ...metered(), metered: false })).toMatchObject({
      action: 'download',
      mode: 'full',
    });
  });

  it('on a metered link with onMetered wait waits even when a delta exists', () => {
    const p = policy({ onMetered: 'wait' });
    const request = { ...unmetered('2026-01-01T00:00:00Z', 1000, 100), metered: true };
    expect(decideTransfer(p, request)).toEqual({ action: 'wait', reason: 'metered-link' });
    expect(decideTransfer(p, { ...request, metered: false })).toMatchObject({
      action: 'download',
      mode: 'delta',
    });
  });

  it('refuses an update above the byte cap, before any waiting, counting the delta when it is used', () => {
    const p = policy({
      onMetered: 'wait',
      maxBytesPerUpdate: 500,
      windows: [{ start: '10:00', end: '11:00' }],
    });
    expect(decideTransfer(p, { ...unmetered('2026-01-01T00:00:00Z'), metered: true })).toEqual({
      action: 'refuse',
      reason: 'byte-cap-exceeded: needs 1000 bytes, cap 500',
    });
    expect(decideTransfer(p, unmetered('2026-01-01T10:00:00Z', 1000, 500))).toEqual({
      action: 'download',
      mode: 'delta',
      bytes: 500,
    });
    expect(decideTransfer(p, unmetered('2026-01-01T10:00:00Z', 1000, 501))).toMatchObject({
      action: 'refuse',
    });
  });

  it('outside the windows on a metered link waits for the window, with its opening time', () => {
    const p = policy({ onMetered: 'wait', windows: [{ start: '10:00', end: '11:00' }] });
    expect(decideTransfer(p, { ...unmetered('2026-01-01T08:00:00Z'), metered: true })).toEqual({
      action: 'wait',
      reason: 'outside-download-window',
      until: at('2026-01-01T10:00:00Z'),
    });
    expect(decideTransfer(p, { ...unmetered('2026-01-01T10:30:00Z'), metered: true })).toEqual({
      action: 'wait',
      reason: 'metered-link',
    });
  });
});

/** Decides with only a window policy on an unmetered link: download inside, wait (with until) outside. */
const untilFor = (windows: DownloadWindow[], timeZone: string, now: string) => {
  const decision = decideTransfer(policy({ windows, timeZone }), unmetered(now));
  if (decision.action === 'download') return 'open';
  return decision.action === 'wait' ? decision.until?.toISOString() : decision.reason;
};

describe('decideTransfer: download windows in local time', () => {
  it('opens windows by the local clock of the policy time zone, and waits for the next one', () => {
    const windows = [{ start: '01:00', end: '05:00' }];
    // 01:00 in Tokyo (UTC+9) is 16:00 UTC the day before.
    expect(untilFor(windows, 'Asia/Tokyo', '2026-06-01T15:59:59Z')).toBe('2026-06-01T16:00:00.000Z');
    expect(untilFor(windows, 'Asia/Tokyo', '2026-06-01T16:00:00Z')).toBe('open');
    expect(untilFor(windows, 'Asia/Tokyo', '2026-06-01T19:59:59Z')).toBe('open');
    expect(untilFor(windows, 'Asia/Tokyo', '2026-06-01T20:00:00Z')).toBe('2026-06-02T16:00:00.000Z');
  });

  it('keeps a window that crosses midnight open across it, on the days it starts', () => {
    // Mondays 23:00 to Tuesdays 01:00. 2026-06-01 is a Monday.
    const windows: DownloadWindow[] = [{ days: ['mon'], start: '23:00', end: '01:00' }];
    expect(untilFor(windows, 'UTC', '2026-06-01T22:00:00Z')).toBe('2026-06-01T23:00:00.000Z');
    expect(untilFor(windows, 'UTC', '2026-06-01T23:30:00Z')).toBe('open');
    expect(untilFor(windows, 'UTC', '2026-06-02T00:30:00Z')).toBe('open');
    expect(untilFor(windows, 'UTC', '2026-06-02T01:00:00Z')).toBe('2026-06-08T23:00:00.000Z');
    // Sunday 00:30 is not inside: the window did not open on Saturday.
    expect(untilFor(windows, 'UTC', '2026-06-07T00:30:00Z')).toBe('2026-06-08T23:00:00.000Z');
  });

  it('takes the earliest of several windows, on the right weekdays', () => {
    const windows: DownloadWindow[] = [
      { days: ['sat', 'sun'], start: '00:00', end: '24:00' },
      { days: ['wed'], start: '12:00', end: '13:00' },
    ];
    // Monday 2026-06-01 → Wednesday noon; Thursday → Saturday midnight.
    expect(untilFor(windows, 'UTC', '2026-06-01T09:00:00Z')).toBe('2026-06-03T12:00:00.000Z');
    expect(untilFor(windows, 'UTC', '2026-06-04T09:00:00Z')).toBe('2026-06-06T00:00:00.000Z');
    expect(untilFor(windows, 'UTC', '2026-06-07T23:59:59Z')).toBe('open');
  });

  describe('Europe/Berlin (CET → CEST on 2026-03-29 at 01:00 UTC, back on 2026-10-25 at 01:00 UTC)', () => {
    const zone = 'Europe/Berlin';

    it('a window over the spring change lasts its wall-clock hours, one real hour less', () => {
      const windows = [{ start: '01:00', end: '05:00' }];
      expect(untilFor(windows, zone, '2026-03-28T23:59:59Z')).toBe('2026-03-29T00:00:00.000Z');
      expect(untilFor(windows, zone, '2026-03-29T02:59:59Z')).toBe('open');
      // 05:00 CEST: closed; tomorrow's 01:00 CEST is 23:00 UTC.
      expect(untilFor(windows, zone, '2026-03-29T03:00:00Z')).toBe('2026-03-29T23:00:00.000Z');
    });

    it('a window the clock skips does not open that day', () => {
      expect(untilFor([{ start: '02:00', end: '03:00' }], zone, '2026-03-28T12:00:00Z')).toBe(
        '2026-03-30T00:00:00.000Z',
      );
    });

    it('a window that starts inside the skipped hour opens when the clock jumps into it', () => {
      expect(untilFor([{ start: '02:30', end: '04:00' }], zone, '2026-03-28T12:00:00Z')).toBe(
        '2026-03-29T01:00:00.000Z',
      );
    });

    it('in autumn the clock goes back into a window it just left, and that reopens it', () => {
      const windows = [{ start: '02:00', end: '02:30' }];
      expect(untilFor(windows, zone, '2026-10-25T00:15:00Z')).toBe('open'); // 02:15 CEST
      expect(untilFor(windows, zone, '2026-10-25T00:45:00Z')).toBe('2026-10-25T01:00:00.000Z'); // 02:45 CEST
      expect(untilFor(windows, zone, '2026-10-25T01:15:00Z')).toBe('open'); // 02:15 CET
      expect(untilFor(windows, zone, '2026-10-25T01:30:00Z')).toBe('2026-10-26T01:00:00.000Z');
    });
  });

  describe('America/New_York (EST → EDT on 2026-03-08 at 07:00 UTC, back on 2026-11-01 at 06:00 UTC)', () => {
    const zone = 'America/New_York';

    it('a Saturday night window crossing midnight and the spring change', () => {
      const windows: DownloadWindow[] = [{ days: ['sat'], start: '22:00', end: '06:00' }];
      // Saturday 2026-03-07 22:00 EST = 03:00 UTC; Sunday 06:00 EDT = 10:00 UTC.
      expect(untilFor(windows, zone, '2026-03-08T02:00:00Z')).toBe('2026-03-08T03:00:00.000Z');
      expect(untilFor(windows, zone, '2026-03-08T06:30:00Z')).toBe('open'); // 01:30 EST
      expect(untilFor(windows, zone, '2026-03-08T07:30:00Z')).toBe('open'); // 03:30 EDT
      expect(untilFor(windows, zone, '2026-03-08T09:59:59Z')).toBe('open');
      // Next Saturday 22:00 EDT = Sunday 02:00 UTC.
      expect(untilFor(windows, zone, '2026-03-08T10:00:00Z')).toBe('2026-03-15T02:00:00.000Z');
    });

    it('a window in the skipped hour waits for the next day', () => {
      expect(untilFor([{ start: '02:15', end: '02:45' }], zone, '2026-03-08T05:00:00Z')).toBe(
        '2026-03-09T06:15:00.000Z',
      );
    });

    it('the repeated hour in autumn opens a window twice', () => {
      const windows = [{ start: '01:00', end: '01:30' }];
      expect(untilFor(windows, zone, '2026-11-01T04:00:00Z')).toBe('2026-11-01T05:00:00.000Z'); // 00:00 EDT
      expect(untilFor(windows, zone, '2026-11-01T05:40:00Z')).toBe('2026-11-01T06:00:00.000Z'); // 01:40 EDT
      expect(untilFor(windows, zone, '2026-11-01T06:29:59Z')).toBe('open'); // 01:29 EST
      expect(untilFor(windows, zone, '2026-11-01T06:30:00Z')).toBe('2026-11-02T06:00:00.000Z');
    });
  });

  it('insideDownloadWindow and nextDownloadWindow answer for no policy and for no windows', () => {
    expect(insideDownloadWindow(undefined, at('2026-01-01T00:00:00Z'))).toBe(true);
    expect(insideDownloadWindow(policy(), at('2026-01-01T00:00:00Z'))).toBe(true);
    expect(nextDownloadWindow(policy(), at('2026-01-01T00:00:00Z'))).toBeUndefined();
    const p = policy({ windows: [{ start: '10:00', end: '11:00' }] });
    expect(insideDownloadWindow(p, at('2026-01-01T10:00:00Z'))).toBe(true);
    expect(nextDownloadWindow(p, at('2026-01-01T10:00:00Z'))).toEqual(at('2026-01-02T10:00:00Z'));
  });
});

/**
 * An independent oracle for "is a window open": the local clock from `Intl` in another locale
 * and format, and the window rule written out plainly.
 */
const oracleFormatters = new Map<string, Intl.DateTimeFormat>();
function localClock(instant: number, timeZone: string) {
  let formatter = oracleFormatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('sv-SE', {
      timeZone,
      dateStyle: 'short',
      timeStyle: 'medium',
      hourCycle: 'h23',
    });
    oracleFormatters.set(timeZone, formatter);
  }
  // "2026-03-29 03:00:00"
  const text = formatter.format(instant);
  const [date = '', time = ''] = text.split(' ');
  const [h = 0, m = 0, s = 0] = time.split(':').map(Number);
  const weekday = new Date(`${date}T00:00:00Z`).getUTCDay();
  return { weekday, minute: h * 60 + m + s / 60 };
}
const NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
function oracleOpen(windows: DownloadWindow[], timeZone: string, instant: number): boolean {
  const { weekday, minute } = localClock(instant, timeZone);
  const on = (day: number, w: DownloadWindow) => !w.days || w.days.includes(NAMES[(day + 7) % 7] ?? 'sun');
  const toMinutes = (clock: string) => Number(clock.slice(0, 2)) * 60 + Number(clock.slice(3));
  return windows.some((w) => {
    const start = toMinutes(w.start);
    const end = toMinutes(w.end);
    if (start < end) return on(weekday, w) && start <= minute && minute < end;
    return (on(weekday, w) && minute >= start) || (on(weekday - 1, w) && minute < end);
  });
}

const ZONES = [
  'UTC',
  'Europe/Berlin',
  'America/New_York',
  'Australia/Lord_Howe', // 30-minute daylight saving
  'Pacific/Chatham', // UTC+12:45 / +13:45
  'America/Santiago', // southern hemisphere, midnight changes
  'Asia/Kolkata',
];
/** Instants near the changes of 2026, and anywhere in 2024–2030. */
const CHANGES = [
  '2026-03-29T01:00:00Z',
  '2026-10-25T01:00:00Z',
  '2026-03-08T07:00:00Z',
  '2026-11-01T06:00:00Z',
];
const HOUR = 3_600_000;
const instantArb = fc.oneof(
  fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2030-12-31T00:00:00Z') }),
  fc
    .tuple(fc.constantFrom(...CHANGES), fc.integer({ min: -30 * HOUR, max: 30 * HOUR }))
    .map(([change, offset]) => Date.parse(change) + offset),
);
const clock = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
const windowArb: fc.Arbitrary<DownloadWindow> = fc
  .record({
    days: fc.option(fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 1, maxLength: 7 }), {
      nil: undefined,
    }),
    start: fc.integer({ min: 0, max: 24 * 60 - 1 }),
    length: fc.integer({ min: 15, max: 23 * 60 }),
  })
  .map(({ days, start, length }) => ({
    ...(days ? { days } : {}),
    start: clock(start),
    end: clock((start + length) % (24 * 60) || 24 * 60),
  }));

describe('decideTransfer: window math properties', () => {
  it('downloads exactly when the oracle says a window is open', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.array(windowArb, { minLength: 1, maxLength: 3 }),
        instantArb,
        (zone, windows, now) => {
          const decision = decideTransfer(
            policy({ windows, timeZone: zone }),
            unmetered(new Date(now).toISOString()),
          );
          expect(decision.action === 'download').toBe(oracleOpen(windows, zone, now));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('waits until an instant inside a window, with no window open between now and then', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ZONES),
        fc.array(windowArb, { minLength: 1, maxLength: 3 }),
        instantArb,
        (zone, windows, now) => {
          const decision = decideTransfer(
            policy({ windows, timeZone: zone }),
            unmetered(new Date(now).toISOString()),
          );
          if (decision.action !== 'wait') return;
          const until = decision.until?.getTime();
          expect(until).toBeDefined();
          if (until === undefined) return;
          expect(until).toBeGreaterThan(now);
          expect(oracleOpen(windows, zone, until)).toBe(true);
          expect(oracleOpen(windows, zone, until - 1)).toBe(false);
          for (let t = now; t < until; t += 5 * 60_000) expect(oracleOpen(windows, zone, t)).toBe(false);
        },
      ),
      { numRuns: 150 },
    );
  });
});
