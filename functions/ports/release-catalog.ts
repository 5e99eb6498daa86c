import type { DownloadLimits } from '../../contract/ota';

/** One component of the release for one hardware type, as a rollout ships it. */
export interface ReleaseComponent {
  readonly name: string;
  readonly handler: string;
  /** Its place in the release's install order (0 first). */
  readonly order: number;
  readonly settings: Readonly<Record<string, string>>;
  /** The component's own version: its artifact's. */
  readonly version: string;
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
  /** Hardware type → the components its devices install, in install order. */
  readonly components: Readonly<Record<string, readonly ReleaseComponent[]>>;
  /** Hardware type → download limits its devices get (never on a v2-compatible release). */
  readonly downloadLimits?: Readonly<Record<string, DownloadLimits>>;
}

export interface ReleaseCatalog {
  getRelease(releaseId: string): Promise<ReleaseForRollout | undefined>;
  /** The release that shipped `version`, if any (rollback targets). */
  findByVersion(version: string): Promise<ReleaseForRollout | undefined>;
}
