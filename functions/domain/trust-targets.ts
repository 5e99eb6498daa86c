/**
 * What the trust repository records about each signed target, and its errors, apart from the TUF
 * models in tuf-metadata.ts: the trust store needs only these, and every function that reads the
 * store (registration, rollouts, steps) would otherwise load tuf-js's models without signing anything.
 */
import type { SignedTargetFacts } from '../../contract/ota';

/** An entry of the targets metadata: one file a device may fetch, and what is signed about it. */
export interface TargetEntry {
  readonly path: string;
  readonly length: number;
  readonly sha256: string;
  readonly facts: SignedTargetFacts;
}

/** A root, targets or signing problem the operator must fix; nothing was published. */
export class TrustError extends Error {
  override name = 'TrustError';
}

/** A target path was signed before with other bytes: signed paths never change. */
export class TargetConflictError extends TrustError {
  override name = 'TargetConflictError';
  constructor(readonly path: string) {
    super(`target ${path} is already signed with other content; signed targets never change`);
  }
}

export const sameTarget = (a: TargetEntry, b: TargetEntry) => a.length === b.length && a.sha256 === b.sha256;
