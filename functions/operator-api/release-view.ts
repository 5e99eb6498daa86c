import type { Release } from '../domain/release';

/** How the API shows a release: per hardware type, the artifact and what was measured of it. */
export function releaseView(release: Release) {
  return {
    releaseId: release.releaseId,
    version: release.version,
    notes: release.notes ?? null,
    createdAt: release.createdAt,
    artifacts: Object.fromEntries(
      Object.entries(release.artifacts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([hardwareType, artifact]) => [
          hardwareType,
          {
            artifactId: artifact.artifactId,
            kind: artifact.kind,
            version: artifact.version,
            name: artifact.name ?? null,
            size: artifact.size,
            sha256: artifact.sha256,
          },
        ]),
    ),
  };
}
