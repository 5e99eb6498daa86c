import type { DeviceExecution } from '../domain/rollout';

/**
 * A started rollout's plan, in pieces of at most PLAN_PIECE_SIZE executions: written once by
 * `POST /rollouts`, then turned into execution items and device claims a piece per step, so
 * neither the API call nor any one step does work that grows with the rollout.
 */
export interface RolloutPlanStore {
  /** Writes the pieces (idempotent: the same pieces again change nothing). */
  putPieces(rolloutId: string, pieces: readonly (readonly DeviceExecution[])[]): Promise<void>;
  /** Piece `index` (0-based); throws if it does not exist. */
  getPiece(rolloutId: string, index: number): Promise<DeviceExecution[]>;
}

/** Executions per plan piece: one step writes one piece (about 1000 DynamoDB writes). */
export const PLAN_PIECE_SIZE = 1000;
