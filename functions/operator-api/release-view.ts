import { isV2Compatible, type Release, type ReleasedArtifact } from '../domain/release';

const artifactView = (artifact: ReleasedArtifact) => ({
  artifactId: artifact.artifactId,
  kind: artifact.kind,
  version: artifact.version,
  name: artifact.name ?? null,
  size: artifact.size,
  sha256: artifact.sha256,
});

/**
 * How the API shows a release: per hardware type, its components in install order, each with its
 * handler, settings and the artifact and what was measured of it; and the download limits. A
 * single-image release also keeps `artifacts` (hardware type → its one artifact), as clients from
 * before multi-component releases read it.
 */
export function releaseView(release: Release) {
  const hardwareTypes = Object.entries(release.components).sort(([a], [b]) => a.localeCompare(b));
  return {
    releaseId: release.releaseId,
    version: release.version,
    notes: release.notes ?? null,
    createdAt: release.createdAt,
    components: Object.fromEntries(
      hardwareTypes.map(([hardwareType, components]) => [
        hardwareType,
        components.map((c) => ({
          name: c.name,
          handler: c.handler,
          order: c.order,
          settings: c.settings,
          artifact: artifactView(c.artifact),
        })),
      ]),
    ),
    downloadLimits: release.downloadLimits ?? {},
    ...(isV2Compatible(release)
      ? {
          artifacts: Object.fromEntries(
            hardwareTypes.flatMap(([hardwareType, [component]]) =>
              component ? [[hardwareType, artifactView(component.artifact)]] : [],
            ),
          ),
        }
      : {}),
  };
}
