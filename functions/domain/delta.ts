/**
 * Deltas: zstd patch-from patches (contract/zstd-delta.ts) that rebuild a release's image for one hardware
 * type from an image devices already run. A rollout's devices say which images those are (their
 * `fromVersion`), so deltas are planned per rollout, and built once per (release, hardware type,
 * base image): a record of each build, also of one not worth sending, keeps it from being redone.
 */
import { DomainError } from './errors';
import type { DeviceExecution } from './rollout';

/** A release's image for one hardware type, as far as a delta build needs it. */
export interface ReleasedImage {
  readonly hardwareType: string;
  /** Object key in the artifact bucket, and the object version the release pinned. */
  readonly key: string;
  readonly versionId?: string;
  readonly size: number;
  readonly sha256: string;
}

/** A release as delta planning sees it: its version and its images. */
export interface ReleaseImages {
  readonly releaseId: string;
  readonly version: string;
  readonly artifacts: readonly ReleasedImage[];
}

export type DeltaStatus = 'ready' | 'not-worth-it';

/** One delta build's result, whether or not its patch is offered to devices. */
export interface Delta {
  readonly releaseId: string;
  readonly hardwareType: string;
  /** The image the patch applies to. */
  readonly baseSha256: string;
  readonly baseSize: number;
  /** The release version whose image the base is (what devices report as `fromVersion`). */
  readonly baseVersion: string;
  /** The image the patch rebuilds: the release's artifact for `hardwareType`. */
  readonly imageSha256: string;
  readonly imageSize: number;
  /**
   * `ready`: the patch is stored and offered. `not-worth-it`: the patch came out at least
   * NOT_WORTH_IT_RATIO of the image, so devices take the full image; nothing is stored.
   */
  readonly status: DeltaStatus;
  /** Where the patch is (`deltas/...` in the artifact bucket), its size and SHA-256; when `ready`. */
  readonly s3Key?: string;
  /** The S3 object version written: what the record describes, even if the key is written again. */
  readonly s3VersionId?: string;
  readonly size?: number;
  readonly sha256?: string;
  readonly createdAt: string;
}

/**
 * A patch of this share of the image or more saves too little to be worth a second download path
 * (and the device's rebuild work); devices then take the full image.
 */
export const NOT_WORTH_IT_RATIO = 0.9;

/**
 * The job document offers at most 8 deltas per image (JobDocumentV2 in contract/ota.ts), so a
 * release gets at most this many per hardware type; the bases most devices run come first.
 */
export const MAX_DELTAS_PER_IMAGE = 8;

/**
 * The largest base or image a build takes: the largest that zstd's window of 2^28 bytes covers
 * (windowLogFor in contract/zstd-delta.ts). The builder holds base, image and patch in memory, and zstd's
 * match tables grow with the window: a 255 MB build peaked at 5.4 GB (lib/delta-builder.ts has
 * 8 GB). Larger images ship in full.
 */
export const MAX_DELTA_INPUT_BYTES = 2 ** 28 - 1;

/** Deltas live beside artifacts in the artifact bucket, under their own prefix. */
export const DELTA_PREFIX = 'deltas/';
export const deltaKey = (releaseId: string, hardwareType: string, baseSha256: string) =>
  `${DELTA_PREFIX}${releaseId}/${hardwareType}/${baseSha256}.zst`;

/** Whether a patch of `patchSize` bytes for an image of `imageSize` bytes is worth offering. */
export const worthSending = (patchSize: number, imageSize: number) =>
  patchSize < imageSize * NOT_WORTH_IT_RATIO;

/** One delta to build: from the `base` image of an earlier release to the release's `image`. */
export interface DeltaBuild {
  readonly releaseId: string;
  readonly version: string;
  readonly hardwareType: string;
  readonly base: ReleasedImage & { readonly releaseId: string; readonly version: string };
  readonly image: ReleasedImage;
  /** How many of the rollout's devices run this base: why it was chosen before others. */
  readonly deviceCount: number;
}

/**
 * The deltas a rollout of `release` needs and does not have yet: one per distinct (hardware
 * type, base image) among the devices' executions (each standing for `devices` devices, 1 if unset), where the base image is the artifact for the
 * device's hardware type in the release whose version the device ran (`fromVersion`).
 *
 * Left out: devices with no `fromVersion`, or already on the release's version or image; bases
 * of unknown versions or with no artifact for the hardware type; hardware types the release has
 * no image for; images or bases above MAX_DELTA_INPUT_BYTES; deltas in `existing` (ready or
 * not worth it). Per hardware type the MAX_DELTAS_PER_IMAGE bases with most devices are kept.
 */
export function planDeltas(
  release: ReleaseImages,
  executions: readonly (Pick<DeviceExecution, 'hardwareType' | 'fromVersion'> & { devices?: number })[],
  baseReleases: readonly ReleaseImages[],
  existing: readonly Pick<Delta, 'releaseId' | 'hardwareType' | 'baseSha256'>[],
): DeltaBuild[] {
  const byVersion = new Map(baseReleases.map((r) => [r.version, r]));
  const images = new Map(release.artifacts.map((a) => [a.hardwareType, a]));
  const built = new Set(
    existing.filter((d) => d.releaseId === release.releaseId).map((d) => `${d.hardwareType}#${d.baseSha256}`),
  );
  const builds = new Map<string, DeltaBuild>();
  for (const { hardwareType, fromVersion, devices = 1 } of executions) {
    if (fromVersion === undefined || fromVersion === release.version) continue;
    const image = images.get(hardwareType);
    const baseRelease = byVersion.get(fromVersion);
    const base = baseRelease?.artifacts.find((a) => a.hardwareType === hardwareType);
    if (!image || !baseRelease || !base || base.sha256 === image.sha256) continue;
    if (image.size > MAX_DELTA_INPUT_BYTES || base.size > MAX_DELTA_INPUT_BYTES) continue;
    const id = `${hardwareType}#${base.sha256}`;
    if (built.has(id)) continue;
    const planned = builds.get(id);
    builds.set(id, {
      releaseId: release.releaseId,
      version: release.version,
      hardwareType,
      base: planned?.base ?? {
        ...imageOf(base),
        releaseId: baseRelease.releaseId,
        version: baseRelease.version,
      },
      image: imageOf(image),
      deviceCount: (planned?.deviceCount ?? 0) + devices,
    });
  }
  const ranked = [...builds.values()].sort(
    (a, b) =>
      b.deviceCount - a.deviceCount ||
      a.hardwareType.localeCompare(b.hardwareType) ||
      a.base.sha256.localeCompare(b.base.sha256),
  );
  const perHardware = new Map<string, number>();
  return ranked.filter((build) => {
    const count = perHardware.get(build.hardwareType) ?? 0;
    perHardware.set(build.hardwareType, count + 1);
    return count < MAX_DELTAS_PER_IMAGE;
  });
}

/** Only the fields a build uses (a catalog's artifacts may carry more, e.g. the bucket). */
const imageOf = (a: ReleasedImage): ReleasedImage => ({
  hardwareType: a.hardwareType,
  key: a.key,
  ...(a.versionId === undefined ? {} : { versionId: a.versionId }),
  size: a.size,
  sha256: a.sha256,
});

/**
 * A delta build was refused because an input was not the image the release pinned (its SHA-256
 * or size differs): nothing is built or written.
 */
export class DeltaInputMismatchError extends DomainError {
  override readonly name = 'DeltaInputMismatchError';
}
