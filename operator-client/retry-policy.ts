/**
 * Exponential backoff with full jitter for calls that may be retried: attempt n waits a random
 * time in [0, min(maxDelayMs, baseDelayMs · 2^(n-1))), so many callers that failed together do
 * not come back together. Bounded by `maxAttempts`.
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Attempts in all, the first included. @default 6 */
  readonly maxAttempts?: number;
  /** @default 500 */
  readonly baseDelayMs?: number;
  /** @default 8000 */
  readonly maxDelayMs?: number;
  /** A request with no answer by then is abandoned and counts as a timeout. @default 30000 */
  readonly attemptTimeoutMs?: number;
  /** In [0, 1). @default Math.random */
  readonly random?: () => number;
  /** @default a timer that `signal` cuts short */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export const DEFAULT_RETRY_POLICY: Required<RetryPolicy> = {
  maxAttempts: 6,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  attemptTimeoutMs: 30_000,
  random: Math.random,
  sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}),
};

export function withDefaults(policy: RetryPolicy = {}): Required<RetryPolicy> {
  return { ...DEFAULT_RETRY_POLICY, ...policy };
}

/** The pause before attempt `attempt + 1`, after `attempt` (1-based) failed. */
export function backoffDelay(attempt: number, policy: RetryPolicy = {}): number {
  const { baseDelayMs, maxDelayMs, random } = withDefaults(policy);
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * ceiling);
}

/** Throttled (429) or failed on the server's side (5xx, a gateway's timeout included). */
export const isRetryableStatus = (status: number) => status === 429 || status >= 500;
