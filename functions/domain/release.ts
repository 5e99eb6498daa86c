/**
 * A release: one version of the fleet's software. Per hardware type it holds components in install
 * order (for example rootfs + app + model + config), each one ready artifact with the measured
 * size, SHA-256 and S3 object version, the handler that installs it and that handler's settings.
 * A single-image release has one component, `firmware` on the `rootfs` handler. Once made it never
 * changes: there is no update, and making the same version again is refused.
 */
import type { DownloadLimits } from '../../contract/ota';
import {
  componentTargetPaths,
  deltaTargetPath,
  FIRMWARE_COMPONENT,
  imageTargetPath,
  ROOTFS_HANDLER,
  rollbackTargetPath,
} from '../../contract/ota-names';
import { type Artifact, type ArtifactKind, isReady } from './artifact';
import { ValidationError } from './errors';

/**
 * Release versions use the firmware version format, at most 60 characters so that the release
 * id (`rel-<version>`) fits the 64 characters the OTA job document allows (contract/ota.ts).
 */
export const RELEASE_VERSION_PATTERN = /^[0-9A-Za-z.+_-]{1,60}$/;
export const RELEASE_ID_PATTERN = /^rel-[0-9A-Za-z.+_-]{1,60}$/;

/** Derived from the version, so one version can only ever be released once. */
export const releaseIdFor = (version: string) => `rel-${version}`;

export interface ReleasedArtifact {
  readonly artifactId: string;
  readonly kind: ArtifactKind;
  readonly version: string;
  readonly name?: string;
  readonly s3Key: string;
  readonly s3VersionId: string;
  readonly sha256: string;
  readonly size: number;
}

/** One component of a release for one hardware type: what installs it, and the artifact. */
export interface ReleasedComponent {
  readonly name: string;
  /** The update module (handler) on the device that installs it. */
  readonly handler: string;
  /**
   * Its place in the release's install order (0 first): the index of the component in the
   * release, so the same for every hardware type; a hardware type with a subset of the components
   * has gaps.
   */
  readonly order: number;
  /** What its handler reads (contract/ota.ts ComponentSettings); the same for every hardware type. */
  readonly settings: Readonly<Record<string, string>>;
  readonly artifact: ReleasedArtifact;
}

export interface Release {
  readonly releaseId: string;
  readonly version: string;
  readonly notes?: string;
  readonly createdAt: string;
  /** Hardware type → the components its devices install, in install order. */
  readonly components: Readonly<Record<string, readonly ReleasedComponent[]>>;
  /** Hardware type → how long its downloads may take, where the device defaults do not suit. */
  readonly downloadLimits?: Readonly<Record<string, DownloadLimits>>;
}

/** One component of a `POST /releases` body: at most one artifact per hardware type. */
export interface ComponentRequest {
  readonly name: string;
  readonly handler: string;
  readonly settings?: Readonly<Record<string, string>>;
  readonly artifactIds: readonly string[];
}

/**
 * What `POST /releases` asks for: one artifact per hardware type (`artifactIds`, a release of one
 * `firmware` component on the `rootfs` handler), or components in install order.
 */
export type ReleaseRequest = {
  readonly version: string;
  readonly notes?: string;
} & (
  | { readonly artifactIds: readonly string[] }
  | {
      readonly components: readonly ComponentRequest[];
      readonly downloadLimits?: Readonly<Record<string, DownloadLimits>>;
    }
);

/** A job document carries at most this many hardware types (JobDocumentV2/V3 in contract/ota.ts). */
export const MAX_HARDWARE_TYPES = 16;

/** Every artifact id the request lists, once each, in the order listed. */
export const artifactIdsOf = (request: ReleaseRequest): string[] => [
  ...new Set(
    'artifactIds' in request ? request.artifactIds : request.components.flatMap((c) => c.artifactIds),
  ),
];

/**
 * Composes a release from the artifacts the request lists (`found` holds what the catalog has for
 * each listed id). Every listed artifact must exist, be ready and be listed once; within a
 * component no hardware type may appear twice; component names differ; the release spans at most
 * MAX_HARDWARE_TYPES hardware types; download limits name only hardware types it has. Each
 * offending entry is named (`artifacts.<i>`, or `components.<c>.artifacts.<i>`, …) in one
 * ValidationError.
 */
export function composeRelease(
  request: ReleaseRequest,
  found: ReadonlyMap<string, Artifact>,
  now: Date,
): Release {
  const single = 'artifactIds' in request;
  const wanted: readonly ComponentRequest[] = single
    ? [{ name: FIRMWARE_COMPONENT, handler: ROOTFS_HANDLER, artifactIds: request.artifactIds }]
    : request.components;
  const prefix = (c: number) => (single ? '' : `components.${c}.`);
  const issues: { field: string; message: string }[] = [];
  const components: Record<string, ReleasedComponent[]> = {};
  const seen = new Map<string, string>();
  const names = new Map<string, number>();
  /** Hardware types of every listed artifact found, ready or not: what download limits may name. */
  const listedHardware = new Set<string>();

  wanted.forEach((component, c) => {
    const other = names.get(component.name);
    if (other !== undefined) {
      issues.push({
        field: `components.${c}.name`,
        message: `${component.name} is already the name of components.${other}`,
      });
      return;
    }
    names.set(component.name, c);
    const byHardware = new Map<string, string>();
    component.artifactIds.forEach((artifactId, i) => {
      const field = `${prefix(c)}artifacts.${i}`;
      const artifact = found.get(artifactId);
      const first = seen.get(artifactId);
      if (first !== undefined) {
        issues.push({ field, message: `${artifactId} is already listed as ${first}` });
        return;
      }
      seen.set(artifactId, field);
      if (!artifact) {
        issues.push({ field, message: `${artifactId} not found` });
        return;
      }
      listedHardware.add(artifact.hardwareType);
      if (!isReady(artifact)) {
        issues.push({ field, message: `${artifactId} is ${artifact.status}, not ready` });
        return;
      }
      const twice = byHardware.get(artifact.hardwareType);
      if (twice !== undefined) {
        issues.push({
          field,
          message: `${artifactId} is a second artifact for hardware type ${artifact.hardwareType} (${twice})`,
        });
        return;
      }
      byHardware.set(artifact.hardwareType, field);
      components[artifact.hardwareType] = [
        ...(components[artifact.hardwareType] ?? []),
        {
          name: component.name,
          handler: component.handler,
          order: c,
          settings: { ...component.settings },
          artifact: {
            artifactId,
            kind: artifact.kind,
            version: artifact.version,
            ...(artifact.name === undefined ? {} : { name: artifact.name }),
            s3Key: artifact.s3Key,
            s3VersionId: artifact.s3VersionId,
            sha256: artifact.sha256,
            size: artifact.size,
          },
        },
      ];
    });
  });

  const hardwareTypes = Object.keys(components);
  if (hardwareTypes.length > MAX_HARDWARE_TYPES) {
    issues.push({
      field: single ? 'artifacts' : 'components',
      message: `at most ${MAX_HARDWARE_TYPES} hardware types in one release (one job document carries them all); these artifacts are for ${hardwareTypes.length}`,
    });
  }
  const downloadLimits = single ? undefined : request.downloadLimits;
  for (const hardwareType of Object.keys(downloadLimits ?? {})) {
    if (!listedHardware.has(hardwareType))
      issues.push({
        field: `downloadLimits.${hardwareType}`,
        message: `no component of the release is for hardware type ${hardwareType}`,
      });
  }

  if (issues.length > 0) {
    const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    throw new ValidationError(`Cannot release ${request.version}: ${summary}`, issues);
  }
  return {
    releaseId: releaseIdFor(request.version),
    version: request.version,
    ...(request.notes === undefined ? {} : { notes: request.notes }),
    createdAt: now.toISOString(),
    components,
    ...(downloadLimits === undefined || Object.keys(downloadLimits).length === 0 ? {} : { downloadLimits }),
  };
}

/** What decides how a release goes out to devices (a Release, or a release as a rollout reads it). */
export interface ReleaseLayout {
  readonly components: Readonly<
    Record<string, readonly Pick<ReleasedComponent, 'name' | 'handler' | 'settings'>[]>
  >;
  readonly downloadLimits?: Readonly<Record<string, unknown>>;
}

/**
 * Whether the release goes out as it did before multi-component releases: every hardware type has
 * exactly one component, `firmware` on the `rootfs` handler with no settings, and no hardware type
 * has download limits. Such a release keeps the single-image target paths (imageTargetPath, …),
 * its signed facts carry no `component`, and its job document is `edgeops.ota.v2`, which agents
 * from before multi-component releases take. Every other release has per-component target paths,
 * signed component facts and an `edgeops.ota.v3` document.
 */
export function isV2Compatible(release: ReleaseLayout): boolean {
  if (Object.keys(release.downloadLimits ?? {}).length > 0) return false;
  return Object.values(release.components).every(
    (components) =>
      components.length === 1 &&
      components.every(
        (c) =>
          c.name === FIRMWARE_COMPONENT &&
          c.handler === ROOTFS_HANDLER &&
          Object.keys(c.settings).length === 0,
      ),
  );
}

/** The TUF target paths of one component of a release, for signing and for the job document. */
export function targetPathsOf(release: ReleaseLayout, component: string) {
  return isV2Compatible(release)
    ? { image: imageTargetPath, delta: deltaTargetPath, rollback: rollbackTargetPath }
    : componentTargetPaths(component);
}
