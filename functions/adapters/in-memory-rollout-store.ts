import type { OtaEventV1 } from '../../contract/ota';
import { RolloutNotFoundError, RolloutStateError } from '../domain/errors';
import {
  ACTIVE_ROLLOUT_STATUSES,
  type DeviceExecution,
  type FailedSample,
  type JobExecutionStatus,
  type Rollout,
} from '../domain/rollout';
import {
  bucketOf,
  type CounterName,
  counterDelta,
  emptyCounts,
  type WaveCounts,
  withJobStatus,
  withOtaEvent,
} from '../domain/wave-counters';
import type { ExecutionFilter, ExecutionPage, RolloutPage, RolloutStore } from '../ports/rollout-store';
import { decodeCursor, encodeCursor } from './page-cursor';

/** RolloutStore for unit tests; same semantics as DynamoDbRolloutStore. */
export class InMemoryRolloutStore implements RolloutStore {
  readonly #rollouts = new Map<string, Rollout>();
  readonly #executions = new Map<string, Map<string, DeviceExecution>>();
  readonly #counts = new Map<string, Record<CounterName, number>[]>();
  readonly #claims = new Map<string, string>();
  readonly #tokens = new Map<string, string>();

  async createRollout(rollout: Rollout, counts: readonly WaveCounts[]): Promise<void> {
    if (this.#rollouts.has(rollout.rolloutId)) throw new Error(`Rollout ${rollout.rolloutId} exists`);
    this.#rollouts.set(rollout.rolloutId, rollout);
    this.#executions.set(rollout.rolloutId, new Map());
    this.#counts.set(
      rollout.rolloutId,
      rollout.waves.map((w) => ({ ...emptyCounts(), ...counts[w.index] })),
    );
  }

  async addExecutions(rolloutId: string, executions: readonly DeviceExecution[]): Promise<void> {
    const stored = this.#executions.get(rolloutId);
    if (!stored) throw new RolloutNotFoundError(rolloutId);
    for (const e of executions) {
      stored.set(e.deviceId, e);
      this.#claims.set(e.deviceId, rolloutId);
    }
  }

  async getRollout(rolloutId: string) {
    return this.#rollouts.get(rolloutId);
  }

  /** Newest first by `<createdAt>#<rolloutId>`, with the DynamoDB store's cursor: its listing key. */
  async listRollouts(limit: number, cursor?: string): Promise<RolloutPage> {
    const sortKey = (r: Rollout) => `${r.createdAt}#${r.rolloutId}`;
    const after =
      cursor === undefined
        ? undefined
        : decodeCursor<{ pk: string; sk: string }>(
            cursor,
            (key) => Object.keys(key).length === 2 && key.pk === 'ROLLOUTS' && typeof key.sk === 'string',
          ).sk;
    const newestFirst = [...this.#rollouts.values()]
      .sort((a, b) => (sortKey(a) < sortKey(b) ? 1 : -1))
      .filter((r) => after === undefined || sortKey(r) < after);
    const items = newestFirst.slice(0, limit);
    const last = items[items.length - 1];
    return newestFirst.length > limit && last
      ? { items, nextCursor: encodeCursor({ pk: 'ROLLOUTS', sk: sortKey(last) }) }
      : { items };
  }

  async transition(rolloutId: string, from: readonly Rollout['status'][], change: Partial<Rollout>) {
    const rollout = this.#rollouts.get(rolloutId);
    if (!rollout) throw new RolloutNotFoundError(rolloutId);
    if (!from.includes(rollout.status)) {
      throw new RolloutStateError(`Rollout ${rolloutId} is ${rollout.status}, not ${from.join(' or ')}`);
    }
    const next = { ...rollout, ...change } as Rollout;
    this.#rollouts.set(rolloutId, next);
    return next;
  }

  async setTaskToken(rolloutId: string, token: string | undefined) {
    if (token === undefined) this.#tokens.delete(rolloutId);
    else this.#tokens.set(rolloutId, token);
  }

  async getTaskToken(rolloutId: string) {
    return this.#tokens.get(rolloutId);
  }

  async listExecutions(rolloutId: string, waveIndex?: number) {
    return this.#sorted(rolloutId).filter((e) => waveIndex === undefined || e.waveIndex === waveIndex);
  }

  async pageExecutions(
    rolloutId: string,
    options: { waveIndex?: number; filters?: readonly ExecutionFilter[]; limit: number; cursor?: string },
  ): Promise<ExecutionPage> {
    const { filters = [] } = options;
    const matching = (await this.listExecutions(rolloutId, options.waveIndex)).filter(
      (e) =>
        filters.length === 0 ||
        filters.some((f) => f.waveIndexes.includes(e.waveIndex) && f.buckets.includes(bucketOf(e))),
    );
    const offset = options.cursor ? Number(options.cursor) : 0;
    const items = matching.slice(offset, offset + options.limit);
    const next = offset + items.length;
    return next < matching.length ? { items, nextCursor: String(next) } : { items };
  }

  async waveCounts(rolloutId: string): Promise<WaveCounts[]> {
    return (this.#counts.get(rolloutId) ?? []).map((c) => ({ ...c }));
  }

  async failedSample(rolloutId: string, waveIndex: number, limit: number): Promise<FailedSample> {
    return this.#sorted(rolloutId)
      .filter((e) => e.waveIndex === waveIndex && ['failed', 'rolled-back'].includes(bucketOf(e)))
      .slice(0, limit)
      .map((e) => ({ deviceId: e.deviceId, reason: e.reason ?? e.jobStatus ?? e.stage }));
  }

  async applyOtaEvent(event: OtaEventV1, waveIndex: number) {
    return this.#change(event.rolloutId, waveIndex, event.deviceId, (e) => withOtaEvent(e, event));
  }

  async applyJobExecutionStatus(
    rolloutId: string,
    waveIndex: number,
    deviceId: string,
    status: JobExecutionStatus,
  ) {
    return this.#change(rolloutId, waveIndex, deviceId, (e) => withJobStatus(e, status));
  }

  async activeClaims(deviceIds: readonly string[]) {
    const claims = new Map<string, string>();
    for (const id of deviceIds) {
      const holder = this.#claims.get(id);
      if (holder && this.#isActive(holder)) claims.set(id, holder);
    }
    return claims;
  }

  #change(
    rolloutId: string,
    waveIndex: number,
    deviceId: string,
    change: (e: DeviceExecution) => DeviceExecution | undefined,
  ): boolean {
    const executions = this.#executions.get(rolloutId);
    const before = executions?.get(deviceId);
    if (!executions || !before || before.waveIndex !== waveIndex) return false;
    const after = change(before);
    if (!after) return false;
    executions.set(deviceId, after);
    const counts = this.#counts.get(rolloutId)?.[waveIndex];
    if (counts) {
      for (const [name, d] of Object.entries(counterDelta(before, after)) as [CounterName, number][])
        counts[name] += d;
    }
    return true;
  }

  #sorted(rolloutId: string) {
    return [...(this.#executions.get(rolloutId)?.values() ?? [])].sort(
      (a, b) => a.waveIndex - b.waveIndex || (a.deviceId < b.deviceId ? -1 : 1),
    );
  }

  #isActive(rolloutId: string) {
    const status = this.#rollouts.get(rolloutId)?.status;
    return status !== undefined && ACTIVE_ROLLOUT_STATUSES.includes(status);
  }
}
