import { DeviceBusyError, RolloutNotFoundError, RolloutStateError } from '../domain/errors';
import type { OtaEventV1 } from '../domain/ota-contract';
import { ACTIVE_ROLLOUT_STATUSES, type DeviceExecution, type Rollout } from '../domain/rollout';
import type { RolloutPage, RolloutStore } from '../ports/rollout-store';

/** RolloutStore for unit tests; same semantics as DynamoDbRolloutStore. */
export class InMemoryRolloutStore implements RolloutStore {
  readonly #rollouts = new Map<string, Rollout>();
  readonly #executions = new Map<string, Map<string, DeviceExecution>>();
  readonly #claims = new Map<string, string>();
  readonly #tokens = new Map<string, string>();

  async createRollout(rollout: Rollout, executions: readonly DeviceExecution[]): Promise<void> {
    for (const e of executions) {
      const holder = this.#claims.get(e.deviceId);
      if (holder && holder !== rollout.rolloutId && this.#isActive(holder)) {
        throw new DeviceBusyError(`Device ${e.deviceId} is held by rollout ${holder}`);
      }
    }
    this.#rollouts.set(rollout.rolloutId, rollout);
    this.#executions.set(rollout.rolloutId, new Map(executions.map((e) => [e.deviceId, e])));
    for (const e of executions) this.#claims.set(e.deviceId, rollout.rolloutId);
  }

  async getRollout(rolloutId: string) {
    return this.#rollouts.get(rolloutId);
  }

  async listRollouts(limit: number, cursor?: string): Promise<RolloutPage> {
    const all = [...this.#rollouts.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : -1));
    const offset = cursor ? Number(cursor) : 0;
    const items = all.slice(offset, offset + limit);
    return offset + items.length < all.length
      ? { items, nextCursor: String(offset + items.length) }
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
    return [...(this.#executions.get(rolloutId)?.values() ?? [])].filter(
      (e) => waveIndex === undefined || e.waveIndex === waveIndex,
    );
  }

  async queueWave(rolloutId: string, waveIndex: number, deviceIds: readonly string[]) {
    const executions = this.#executions.get(rolloutId);
    for (const id of deviceIds) {
      const e = executions?.get(id);
      if (e && e.waveIndex === waveIndex && e.stage === 'pending')
        executions?.set(id, { ...e, stage: 'queued' });
    }
  }

  async applyOtaEvent(event: OtaEventV1, waveIndex: number) {
    const executions = this.#executions.get(event.rolloutId);
    const e = executions?.get(event.deviceId);
    if (!executions || !e || e.waveIndex !== waveIndex || event.seq <= e.lastSeq) return false;
    executions.set(event.deviceId, {
      ...e,
      stage: event.stage,
      runningVersion: event.runningVersion,
      lastSeq: event.seq,
      ...(event.stage === 'healthy' ? { healthySince: new Date(event.at).toISOString() } : {}),
      ...(event.reason ? { reason: event.reason } : {}),
      ...(event.bytesDownloaded === undefined ? {} : { bytesDownloaded: event.bytesDownloaded }),
      ...(event.transfer === undefined ? {} : { transfer: event.transfer }),
    });
    return true;
  }

  async releaseDevices(rolloutId: string, deviceIds: readonly string[]) {
    for (const id of deviceIds) if (this.#claims.get(id) === rolloutId) this.#claims.delete(id);
  }

  async activeClaims(deviceIds: readonly string[]) {
    const claims = new Map<string, string>();
    for (const id of deviceIds) {
      const holder = this.#claims.get(id);
      if (holder && this.#isActive(holder)) claims.set(id, holder);
    }
    return claims;
  }

  #isActive(rolloutId: string) {
    const status = this.#rollouts.get(rolloutId)?.status;
    return status !== undefined && ACTIVE_ROLLOUT_STATUSES.includes(status);
  }
}
