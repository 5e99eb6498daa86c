import { sameTarget, TargetConflictError, type TargetEntry } from '../domain/trust-targets';
import type { TrustFiles, TrustState, TrustStore } from '../ports/trust-repository';

/** TrustStore for unit tests and simulations; same semantics as DynamoDbTrustStore. */
export class InMemoryTrustStore implements TrustStore {
  #state: TrustState | undefined;
  readonly #targets = new Map<string, TargetEntry>();
  #lock: { owner: string; until: number } | undefined;

  async getState() {
    return this.#state;
  }

  async putState(state: TrustState) {
    this.#state = state;
  }

  async addTargets(entries: readonly TargetEntry[]) {
    for (const entry of entries) {
      const existing = this.#targets.get(entry.path);
      if (existing && !sameTarget(existing, entry)) throw new TargetConflictError(entry.path);
    }
    for (const entry of entries) if (!this.#targets.has(entry.path)) this.#targets.set(entry.path, entry);
  }

  async listTargets() {
    return [...this.#targets.values()];
  }

  async lock(owner: string, ttlSeconds: number, now: Date) {
    if (this.#lock && this.#lock.owner !== owner && this.#lock.until > now.getTime()) return false;
    this.#lock = { owner, until: now.getTime() + ttlSeconds * 1000 };
    return true;
  }

  async unlock(owner: string) {
    if (this.#lock?.owner === owner) this.#lock = undefined;
  }
}

/** TrustFiles in memory; `location` uses a made-up bucket, `files` lets a test serve or tamper. */
export class InMemoryTrustFiles implements TrustFiles {
  readonly files = new Map<string, Buffer>();

  async put(name: string, body: Buffer) {
    this.files.set(name, Buffer.from(body));
  }

  async get(name: string) {
    return this.files.get(name);
  }

  location(name: string) {
    return `s3://edgeops-trust/tuf/${name}`;
  }
}
