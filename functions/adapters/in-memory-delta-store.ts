import type { Delta } from '../domain/delta';
import type { DeltaStore } from '../ports/delta-store';

/** DeltaStore for unit tests; same semantics as DynamoDbDeltaStore. */
export class InMemoryDeltaStore implements DeltaStore {
  readonly #deltas = new Map<string, Delta>();

  async putDelta(delta: Delta): Promise<boolean> {
    const id = idOf(delta.releaseId, delta.hardwareType, delta.baseSha256);
    if (this.#deltas.has(id)) return false;
    this.#deltas.set(id, delta);
    return true;
  }

  async getDelta(releaseId: string, hardwareType: string, baseSha256: string) {
    return this.#deltas.get(idOf(releaseId, hardwareType, baseSha256));
  }

  async listDeltas(releaseId: string) {
    return [...this.#deltas.values()].filter((d) => d.releaseId === releaseId);
  }
}

const idOf = (releaseId: string, hardwareType: string, baseSha256: string) =>
  `${releaseId}#${hardwareType}#${baseSha256}`;
