import type { DeviceExecution } from '../domain/rollout';
import type { RolloutPlanStore } from '../ports/rollout-plan-store';

/** RolloutPlanStore for unit tests. */
export class InMemoryRolloutPlanStore implements RolloutPlanStore {
  readonly #pieces = new Map<string, DeviceExecution[]>();

  async putPieces(rolloutId: string, pieces: readonly (readonly DeviceExecution[])[]): Promise<void> {
    pieces.forEach((piece, index) => {
      this.#pieces.set(`${rolloutId}/${index}`, [...piece]);
    });
  }

  async getPiece(rolloutId: string, index: number): Promise<DeviceExecution[]> {
    const piece = this.#pieces.get(`${rolloutId}/${index}`);
    if (!piece) throw new Error(`No piece ${index} of the plan of rollout ${rolloutId}`);
    return [...piece];
  }
}
