import { ComponentSettings, DownloadLimits } from '../../contract/ota';
import * as z from '../../contract/zod-mini';
import { ARTIFACT_KINDS } from '../domain/artifact';
import { isV2Compatible, type Release, type ReleasedArtifact } from '../domain/release';

const ReleasedArtifactView = z.object({
  artifactId: z.string(),
  kind: z.enum(ARTIFACT_KINDS),
  version: z.string(),
  name: z.nullable(z.string()),
  size: z.number(),
  sha256: z.string(),
});

/** The shape `releaseView` returns: typed against it, so the view and the OpenAPI document agree. */
export const ReleaseView = z.object({
  releaseId: z.string(),
  version: z.string(),
  notes: z.nullable(z.string()),
  createdAt: z.string(),
  /** Hardware type → its components in install order. */
  components: z.record(
    z.string(),
    z.array(
      z.object({
        name: z.string(),
        handler: z.string(),
        order: z.number(),
        settings: ComponentSettings,
        artifact: ReleasedArtifactView,
      }),
    ),
  ),
  downloadLimits: z.record(z.string(), DownloadLimits),
  /** Single-image releases only: hardware type → its one artifact. */
  artifacts: z.optional(z.record(z.string(), ReleasedArtifactView)),
});
export type ReleaseView = z.output<typeof ReleaseView>;

const artifactView = (artifact: ReleasedArtifact): z.output<typeof ReleasedArtifactView> => ({
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
export function releaseView(release: Release): ReleaseView {
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
