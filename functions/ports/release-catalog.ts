/** The release a rollout ships, as the rollout needs it. */
export interface ReleaseArtifact {
  readonly hardwareType: string;
  /** Where the image lives, for the job document's presigned URL. */
  readonly bucket: string;
  readonly key: string;
  /** The object version the release pinned (deltas read exactly it). */
  readonly versionId?: string;
  readonly size: number;
  readonly sha256: string;
}

export interface ReleaseForRollout {
  readonly releaseId: string;
  readonly version: string;
  readonly artifacts: readonly ReleaseArtifact[];
}

export interface ReleaseCatalog {
  getRelease(releaseId: string): Promise<ReleaseForRollout | undefined>;
  /** The release that shipped `version`, if any (rollback targets). */
  findByVersion(version: string): Promise<ReleaseForRollout | undefined>;
}
