import type { Delta } from '../domain/delta';
import type { DeltaStore } from '../ports/delta-store';

/** DeltaStore for unit tests; same semantics as DynamoDbDeltaStore. */
export class InMemoryDeltaStore implements DeltaStore {
  readonly #deltas = new Map<string, Delta>();

  async putDelta(delta: Delta): Promise<boolean> {
    const id = idOf(delta.releaseId, delta.hardwareType, delta.component, delta.baseSha256);
    if (this.#deltas.has(id)) return false;
    this.#deltas.set(id, delta);
    return true;
  }

  async getDelta(releaseId: string, hardwareType: string, component: string, baseSha256: string) {
    return this.#deltas.get(idOf(releaseId, hardwareType, component, baseSha256));
  }

  async listDeltas(releaseId: string) {
    return [...this.#deltas.values()].filter((d) => d.releaseId === releaseId);
  }
}

const idOf = (releaseId: string, hardwareType: string, component: string, baseSha256: string) =>
  JSON.stringify([releaseId, hardwareType, component, baseSha256]);
