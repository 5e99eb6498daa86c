/**
 * A release: one version of the fleet's software, naming at most one ready artifact per hardware
 * type, with the measured size, SHA-256 and S3 object version of each. Once made it never changes:
 * there is no update, and making the same version again is refused.
 */
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

export interface Release {
  readonly releaseId: string;
  readonly version: string;
  readonly notes?: string;
  readonly createdAt: string;
  /** Hardware type → the artifact devices of that type install. */
  readonly artifacts: Readonly<Record<string, ReleasedArtifact>>;
}

export interface ReleaseRequest {
  readonly version: string;
  readonly artifactIds: readonly string[];
  readonly notes?: string;
}

/**
 * Composes a release from the artifacts the request lists (`found[i]` is what the catalog holds
 * for `artifactIds[i]`). Every listed artifact must exist and be ready, and no hardware type may
 * appear twice; each offending entry is named (`artifacts.<i>`) in one ValidationError.
 */
export function composeRelease(
  request: ReleaseRequest,
  found: readonly (Artifact | undefined)[],
  now: Date,
): Release {
  const issues: { field: string; message: string }[] = [];
  const artifacts: Record<string, ReleasedArtifact> = {};
  const byHardware = new Map<string, number>();
  const seen = new Map<string, number>();

  request.artifactIds.forEach((artifactId, i) => {
    const field = `artifacts.${i}`;
    const artifact = found[i];
    const first = seen.get(artifactId);
    if (first !== undefined) {
      issues.push({ field, message: `${artifactId} is already listed as artifacts.${first}` });
      return;
    }
    seen.set(artifactId, i);
    if (!artifact) {
      issues.push({ field, message: `${artifactId} not found` });
      return;
    }
    if (!isReady(artifact)) {
      issues.push({ field, message: `${artifactId} is ${artifact.status}, not ready` });
      return;
    }
    const other = byHardware.get(artifact.hardwareType);
    if (other !== undefined) {
      issues.push({
        field,
        message: `${artifactId} is a second artifact for hardware type ${artifact.hardwareType} (artifacts.${other})`,
      });
      return;
    }
    byHardware.set(artifact.hardwareType, i);
    artifacts[artifact.hardwareType] = {
      artifactId,
      kind: artifact.kind,
      version: artifact.version,
      ...(artifact.name === undefined ? {} : { name: artifact.name }),
      s3Key: artifact.s3Key,
      s3VersionId: artifact.s3VersionId,
      sha256: artifact.sha256,
      size: artifact.size,
    };
  });

  if (issues.length > 0) {
    const summary = issues.map((issue) => `${issue.field}: ${issue.message}`).join('; ');
    throw new ValidationError(`Cannot release ${request.version}: ${summary}`, issues);
  }
  return {
    releaseId: releaseIdFor(request.version),
    version: request.version,
    ...(request.notes === undefined ? {} : { notes: request.notes }),
    createdAt: now.toISOString(),
    artifacts,
  };
}
