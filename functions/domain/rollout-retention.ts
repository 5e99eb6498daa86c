/**
 * How long a rollout may run and how long its per-device records are kept. Execution items
 * expire (DynamoDB TTL) a fixed time after the rollout started, a time written once when they are
 * created: no write per device when the rollout ends. That is safe only because no run outlives
 * the retention: the state machine stops any run after ROLLOUT_RUN_MAX_DAYS.
 */

/** The rollout state machine's timeout (Step Functions standard workflows allow one year). */
export const ROLLOUT_RUN_MAX_DAYS = 365;

/** Execution items expire this long after their rollout started: longer than any run. */
export const EXECUTION_RETENTION_DAYS = 400;

/** The `expiresAt` (epoch seconds, DynamoDB TTL) of the executions of a rollout created at `createdAt`. */
export const executionExpiresAt = (createdAt: string) =>
  Math.floor(Date.parse(createdAt) / 1000) + EXECUTION_RETENTION_DAYS * 24 * 3600;
