import type { RepositoryVersions, TargetEntry } from '../domain/tuf-metadata';

/** What the backend remembers about the TUF repository it publishes. */
export interface TrustState {
  /** The newest root uploaded; its file is `<rootVersion>.root.json`. */
  readonly rootVersion: number;
  /** Versions of the online metadata last published; none before the first publication. */
  readonly versions?: RepositoryVersions;
  readonly timestampExpires?: string;
  readonly publishedAt?: string;
}

/**
 * The repository's bookkeeping (state, signed target entries, a publishing lock) in the fleet
 * table. Target entries are write-once per path: a path signed once never changes its bytes.
 */
export interface TrustStore {
  getState(): Promise<TrustState | undefined>;
  putState(state: TrustState): Promise<void>;
  /** Adds entries; an existing path must hold the same length and hash, else TargetConflictError. */
  addTargets(entries: readonly TargetEntry[]): Promise<void>;
  listTargets(): Promise<TargetEntry[]>;
  /** Takes the publishing lock for `owner` for `ttlSeconds`; false when someone else holds it. */
  lock(owner: string, ttlSeconds: number, now: Date): Promise<boolean>;
  unlock(owner: string): Promise<void>;
}

/** The published metadata files (`tuf/<name>` in the artifact bucket). */
export interface TrustFiles {
  put(name: string, body: Buffer): Promise<void>;
  get(name: string): Promise<Buffer | undefined>;
  /** Where a device fetches `name` from, as an `s3://bucket/key` location for the job document. */
  location(name: string): string;
}
