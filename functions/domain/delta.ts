/**
 * Deltas: zstd patch-from patches (contract/zstd-delta.ts) that rebuild one component's image of a
 * release for one hardware type from the image of the same component devices already run. A
 * rollout's devices say which images those are (their `fromVersion`), so deltas are planned per
 * rollout, and built once per (release, hardware type, component, base image): a record of each
 * build, also of one not worth sending, keeps it from being redone.
 */
import { DomainError } from './errors';
import type { DeviceExecution } from './rollout';

/** A release's image of one component for one hardware type, as far as a delta build needs it. */
export interface ReleasedImage {
  readonly hardwareType: string;
  /** The component's name; a release of one image has one, `firmware`. */
  readonly component: string;
  /** Object key in the artifact bucket, and the object version the release pinned. */
  readonly key: string;
  readonly versionId?: string;
  readonly size: number;
  readonly sha256: string;
}

/** A release as delta planning sees it: its version and its images (per hardware type and component). */
export interface ReleaseImages {
  readonly releaseId: string;
  readonly version: string;
  readonly images: readonly ReleasedImage[];
}

export type DeltaStatus = 'ready' | 'not-worth-it';

/** One delta build's result, whether or not its patch is offered to devices. */
export interface Delta {
  readonly releaseId: string;
  readonly hardwareType: string;
  /** The component whose image it rebuilds (deltas recorded before components: `firmware`). */
  readonly component: string;
  /** The image the patch applies to. */
  readonly baseSha256: string;
  readonly baseSize: number;
  /** The release version whose image the base is (what devices report as `fromVersion`). */
  readonly baseVersion: string;
  /** The image the patch rebuilds: the release's artifact of `component` for `hardwareType`. */
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
 * The job document offers at most 8 deltas per image (JobDocumentV2/V3 in contract/ota.ts), so a
 * release gets at most this many per hardware type and component; the bases most devices run
 * come first.
 */
export const MAX_DELTAS_PER_IMAGE = 8;

/**
 * At most this many builds per rollout, the bases most devices run first: the plan rides in the
 * rollout's Step Functions state (≤ 256 KB; a build is under 1 KB), and the builds run two at a
 * time before the first wave. 16 hardware types × 8 bases, as many as a release of single images
 * can use; a release of many components shares them.
 */
export const MAX_DELTA_BUILDS = 128;

/**
 * The largest base or image a build takes: the largest that zstd's window of 2^28 bytes covers
 * (windowLogFor in contract/zstd-delta.ts). The builder holds base, image and patch in memory, and zstd's
 * match tables grow with the window: a 255 MB build peaked at 5.4 GB (lib/delta-builder.ts has
 * 8 GB). Larger images ship in full.
 */
export const MAX_DELTA_INPUT_BYTES = 2 ** 28 - 1;

/** Deltas live beside artifacts in the artifact bucket, under their own prefix. */
export const DELTA_PREFIX = 'deltas/';
export const deltaKey = (releaseId: string, hardwareType: string, component: string, baseSha256: string) =>
  `${DELTA_PREFIX}${releaseId}/${hardwareType}/${component}/${baseSha256}.zst`;

/** Whether a patch of `patchSize` bytes for an image of `imageSize` bytes is worth offering. */
export const worthSending = (patchSize: number, imageSize: number) =>
  patchSize < imageSize * NOT_WORTH_IT_RATIO;

/** One delta to build: from the `base` image of an earlier release to the release's `image`. */
export interface DeltaBuild {
  readonly releaseId: string;
  readonly version: string;
  readonly hardwareType: string;
  readonly component: string;
  readonly base: ReleasedImage & { readonly releaseId: string; readonly version: string };
  readonly image: ReleasedImage;
  /** How many of the rollout's devices run this base: why it was chosen before others. */
  readonly deviceCount: number;
}

/**
 * The deltas a rollout of `release` needs and does not have yet: one per distinct (hardware type,
 * component, base image) among the devices' executions (each standing for `devices` devices, 1 if
 * unset), where the base image is the same component's image for the device's hardware type in
 * the release whose version the device ran (`fromVersion`).
 *
 * Left out: devices with no `fromVersion`, or already on the release's version; components whose
 * base image is the release's (the device skips them); bases of unknown versions or with no image
 * of the component for the hardware type (a component new in this release); images or bases above
 * MAX_DELTA_INPUT_BYTES; deltas in `existing` (ready or not worth it). Per hardware type and
 * component the MAX_DELTAS_PER_IMAGE bases with most devices are kept, and MAX_DELTA_BUILDS in all.
 */
export function planDeltas(
  release: ReleaseImages,
  executions: readonly (Pick<DeviceExecution, 'hardwareType' | 'fromVersion'> & { devices?: number })[],
  baseReleases: readonly ReleaseImages[],
  existing: readonly Pick<Delta, 'releaseId' | 'hardwareType' | 'component' | 'baseSha256'>[],
): DeltaBuild[] {
  const byVersion = new Map(baseReleases.map((r) => [r.version, r]));
  const imageId = (i: Pick<ReleasedImage, 'hardwareType' | 'component'>) =>
    JSON.stringify([i.hardwareType, i.component]);
  const built = new Set(
    existing
      .filter((d) => d.releaseId === release.releaseId)
      .map((d) => JSON.stringify([d.hardwareType, d.component, d.baseSha256])),
  );
  const builds = new Map<string, DeltaBuild>();
  for (const { hardwareType, fromVersion, devices = 1 } of executions) {
    if (fromVersion === undefined || fromVersion === release.version) continue;
    const baseRelease = byVersion.get(fromVersion);
    if (!baseRelease) continue;
    const bases = new Map(baseRelease.images.map((i) => [imageId(i), i]));
    for (const image of release.images) {
      if (image.hardwareType !== hardwareType) continue;
      const base = bases.get(imageId(image));
      if (!base || base.sha256 === image.sha256) continue;
      if (image.size > MAX_DELTA_INPUT_BYTES || base.size > MAX_DELTA_INPUT_BYTES) continue;
      const id = JSON.stringify([hardwareType, image.component, base.sha256]);
      if (built.has(id)) continue;
      const planned = builds.get(id);
      builds.set(id, {
        releaseId: release.releaseId,
        version: release.version,
        hardwareType,
        component: image.component,
        base: planned?.base ?? {
          ...imageOf(base),
          releaseId: baseRelease.releaseId,
          version: baseRelease.version,
        },
        image: imageOf(image),
        deviceCount: (planned?.deviceCount ?? 0) + devices,
      });
    }
  }
  const ranked = [...builds.values()].sort(
    (a, b) =>
      b.deviceCount - a.deviceCount ||
      a.hardwareType.localeCompare(b.hardwareType) ||
      a.component.localeCompare(b.component) ||
      a.base.sha256.localeCompare(b.base.sha256),
  );
  const perImage = new Map<string, number>();
  return ranked
    .filter((build) => {
      const id = imageId(build);
      const count = perImage.get(id) ?? 0;
      perImage.set(id, count + 1);
      return count < MAX_DELTAS_PER_IMAGE;
    })
    .slice(0, MAX_DELTA_BUILDS);
}

/** Only the fields a build uses (a catalog's images may carry more, e.g. the bucket). */
const imageOf = (a: ReleasedImage): ReleasedImage => ({
  hardwareType: a.hardwareType,
  component: a.component,
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
