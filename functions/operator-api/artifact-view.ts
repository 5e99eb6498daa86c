import type { Artifact } from '../domain/artifact';

/** How the API shows an artifact: a stable JSON shape, with `null` for what is not measured yet. */
export function artifactView(artifact: Artifact) {
  return {
    artifactId: artifact.artifactId,
    kind: artifact.kind,
    hardwareType: artifact.hardwareType,
    version: artifact.version,
    name: artifact.name ?? null,
    status: artifact.status,
    declaredSize: artifact.declaredSize,
    /** Measured by the backend once the artifact is ready. */
    size: artifact.size ?? null,
    sha256: artifact.sha256 ?? null,
    rejectionReason: artifact.rejectionReason ?? null,
    createdAt: artifact.createdAt,
    sealedAt: artifact.sealedAt ?? null,
  };
}
