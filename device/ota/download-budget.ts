/**
 * Downloads that always end: every transfer (full image or delta patch) gets a budget of download
 * time derived from its signed length, and a transfer that has not finished when the budget is
 * spent fails with `download-too-slow`, so a link that trickles can never hold a device.
 *
 * The budget: `deadline = min(allowance + signedLength / minBytesPerSecond, maxSeconds)`.
 *
 * - `minBytesPerSecond` (the floor, 8 KiB/s = 64 kbit/s by default) is a quarter of a slow but
 *   working 256 kbit/s cellular link: a 1 GiB image, 9.3 h on such a link, has 36.6 h. A trickle
 *   of one byte every 20 s is five orders of magnitude below it and ends at the deadline.
 * - `allowance` (600 s by default) pays for what does not scale with the length: connection set-up
 *   and latency, a few cut connections with their idle timeouts and retry pauses.
 * - Per hardware type (a satellite link, a LAN gateway) a v3 job document carries `DownloadLimits`
 *   (`artifacts[].download`), over the updater's options field by field. `maxSeconds` is a ceiling
 *   on the deadline; to give a slow link more time, lower the floor.
 *
 * Download time is what the device spends inside a transfer: requests, bodies and the pauses
 * between attempts. Waiting for a download window or an unmetered link, verifying TUF metadata,
 * hashing the finished file and rebuilding an image from a patch do not count. The updater keeps
 * the time spent in the job record, so a restart continues the budget (see `DownloadClock`).
 *
 * Time factor: budgets are device time. A simulation in fast time (timeFactor below 1) runs them
 * faster in wall-clock time, but a download is real I/O on a host that a simulated fleet loads
 * harder, so, as `ioTimeoutMs` does for metadata fetches, it gets up to ten times the device
 * time back: wall-clock deadline = deadline × timeFactor × min(1/timeFactor, 10).
 */
import { ioTimeoutMs } from './io-timeouts';

/** 64 kbit/s: a quarter of a slow but working 256 kbit/s cellular link. */
export const DEFAULT_MIN_BYTES_PER_SECOND = 8 * 1024;
/** Latency, reconnects, idle timeouts and retry pauses, on top of the time the bytes take. */
export const DEFAULT_ALLOWANCE_SECONDS = 600;

/**
 * What a hardware type may change (the device's options, a v3 job document). A value that is not
 * a finite positive number (zero or more for `allowanceSeconds`) is ignored: the default applies.
 */
export interface DownloadLimits {
  /** The slowest average rate a transfer may have. @default DEFAULT_MIN_BYTES_PER_SECOND */
  readonly minBytesPerSecond?: number | undefined;
  /** A ceiling on the deadline, in seconds of download time: min(formula, maxSeconds). */
  readonly maxSeconds?: number | undefined;
  /** The fixed part of the deadline. @default DEFAULT_ALLOWANCE_SECONDS */
  readonly allowanceSeconds?: number | undefined;
}

export interface DownloadBudget {
  /** The signed (TUF targets) length of what is downloaded. */
  readonly signedLength: number;
  readonly minBytesPerSecond: number;
  readonly allowanceMs: number;
  /** Download time (device time) the transfer may take in all. */
  readonly deadlineMs: number;
}

export type DownloadTooSlow = `download-too-slow: ${string}`;

/** The budget of a transfer of `signedLength` bytes. Pure. */
export function downloadBudget(signedLength: number, limits: DownloadLimits = {}): DownloadBudget {
  const minBytesPerSecond = positive(limits.minBytesPerSecond) ?? DEFAULT_MIN_BYTES_PER_SECOND;
  const allowanceSeconds = nonNegative(limits.allowanceSeconds) ?? DEFAULT_ALLOWANCE_SECONDS;
  const maxSeconds = positive(limits.maxSeconds);
  const length = Math.max(0, signedLength);
  const derived = allowanceSeconds + length / minBytesPerSecond;
  const deadlineSeconds = maxSeconds === undefined ? derived : Math.min(derived, maxSeconds);
  return {
    signedLength: length,
    minBytesPerSecond,
    allowanceMs: Math.round(allowanceSeconds * 1000),
    deadlineMs: Math.ceil(deadlineSeconds * 1000),
  };
}

/** Wall-clock milliseconds per millisecond of download time under a time factor (see above). */
export function wallMsPerDownloadMs(timeFactor = 1): number {
  if (!(timeFactor > 0) || timeFactor >= 1) return 1;
  return ioTimeoutMs(timeFactor, timeFactor);
}

/** `download-too-slow: 1234/262144 bytes after 632 s, floor 8192 B/s, deadline 632 s` */
export function downloadTooSlow(budget: DownloadBudget, bytes: number, spentMs: number): DownloadTooSlow {
  return `download-too-slow: ${bytes}/${budget.signedLength} bytes after ${seconds(spentMs)} s, floor ${budget.minBytesPerSecond} B/s, deadline ${seconds(budget.deadlineMs)} s`;
}

export interface DownloadClockOptions {
  /** Download time the transfer already spent (e.g. before a restart), in device ms. @default 0 */
  readonly spentMs?: number | undefined;
  /** @default 1 */
  readonly timeFactor?: number | undefined;
  /** Monotonic wall-clock milliseconds. @default performance.now */
  readonly wallNow?: (() => number) | undefined;
}

/**
 * The running download time of one transfer: starts when created, and `signal` aborts once the
 * budget is spent. `checkpointDue()` says when to persist `spentMs` (every 1/20 of the deadline,
 * at most every 30 s of wall-clock time), so a restart loses at most that much download time.
 */
export class DownloadClock {
  readonly #controller = new AbortController();
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #wallPerMs: number;
  readonly #startedAt: number;
  readonly #spentBefore: number;
  readonly #wallNow: () => number;
  readonly #checkpointEveryMs: number;
  #lastCheckpoint: number;
  #stoppedAt: number | undefined;

  constructor(
    readonly budget: DownloadBudget,
    options: DownloadClockOptions = {},
  ) {
    this.#wallNow = options.wallNow ?? (() => performance.now());
    this.#wallPerMs = wallMsPerDownloadMs(options.timeFactor);
    this.#spentBefore = Math.max(0, options.spentMs ?? 0);
    this.#startedAt = this.#wallNow();
    this.#lastCheckpoint = this.#startedAt;
    const wallDeadline = budget.deadlineMs * this.#wallPerMs;
    this.#checkpointEveryMs = Math.min(30_000, Math.max(50, wallDeadline / 20));
    this.#arm();
  }

  /** Aborts when the budget is spent; a timer longer than setTimeout's limit (24.8 days) re-arms. */
  #arm(): void {
    const remaining = (this.budget.deadlineMs - this.spentMs) * this.#wallPerMs;
    if (remaining <= 0) {
      this.#controller.abort(new Error('download budget spent'));
      return;
    }
    this.#timer = setTimeout(() => this.#arm(), Math.min(remaining, MAX_TIMER_MS));
    this.#timer.unref?.();
  }

  /** Aborts when the budget is spent. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get expired(): boolean {
    return this.#controller.signal.aborted;
  }

  /** Download time spent so far, in device ms, this run and before. */
  get spentMs(): number {
    const wall = (this.#stoppedAt ?? this.#wallNow()) - this.#startedAt;
    return this.#spentBefore + wall / this.#wallPerMs;
  }

  /** True (once per period) when it is time to persist `spentMs`. */
  checkpointDue(): boolean {
    const now = this.#wallNow();
    if (this.#stoppedAt !== undefined || now - this.#lastCheckpoint < this.#checkpointEveryMs) return false;
    this.#lastCheckpoint = now;
    return true;
  }

  /** Stops the clock (the transfer is over); `spentMs` stays where it is. */
  stop(): void {
    if (this.#stoppedAt !== undefined) return;
    this.#stoppedAt = this.#wallNow();
    if (this.#timer) clearTimeout(this.#timer);
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

const positive = (value: number | undefined) =>
  value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
const nonNegative = (value: number | undefined) =>
  value !== undefined && Number.isFinite(value) && value >= 0 ? value : undefined;

const seconds = (ms: number) => {
  const s = ms / 1000;
  return s < 10 ? String(Math.round(s * 10) / 10) : String(Math.round(s));
};
