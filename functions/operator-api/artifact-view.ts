import * as z from '../../contract/zod-mini';
import { ARTIFACT_KINDS, type Artifact } from '../domain/artifact';

const nullableString = z.nullable(z.string());

/** The shape `artifactView` returns: typed against it, so the view and the OpenAPI document agree. */
export const ArtifactView = z.object({
  artifactId: z.string(),
  kind: z.enum(ARTIFACT_KINDS),
  hardwareType: z.string(),
  version: z.string(),
  name: nullableString,
  status: z.enum(['awaiting-upload', 'sealing', 'ready', 'rejected']),
  declaredSize: z.number(),
  size: z.nullable(z.number()),
  sha256: nullableString,
  rejectionReason: nullableString,
  createdAt: z.string(),
  sealedAt: nullableString,
});
export type ArtifactView = z.output<typeof ArtifactView>;

/** How the API shows an artifact: a stable JSON shape, with `null` for what is not measured yet. */
export function artifactView(artifact: Artifact): ArtifactView {
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
