import {
  type Artifact,
  type ArtifactSpec,
  type ArtifactUpload,
  artifactKey,
  newArtifact,
  partRanges,
  planUpload,
} from '../domain/artifact';
import type { ArtifactStorage } from '../ports/artifact-storage';
import type { Clock } from '../ports/clock';
import type { ReleaseStore } from '../ports/release-store';

export interface UploadConfig {
  /** Above this many bytes the upload is multipart. */
  readonly multipartThreshold: number;
  /** How long every presigned URL of one upload stays valid. */
  readonly urlTtlSeconds: number;
}

export type UploadInstructions =
  | { readonly type: 'single'; readonly method: 'PUT'; readonly url: string; readonly expiresAt: string }
  | {
      readonly type: 'multipart';
      readonly partSize: number;
      readonly expiresAt: string;
      readonly parts: readonly {
        readonly partNumber: number;
        readonly offset: number;
        readonly length: number;
        readonly url: string;
      }[];
    };

export interface CreatedArtifact {
  readonly artifact: Artifact;
  readonly upload: UploadInstructions;
}

/**
 * Creates an artifact that waits for its bytes:
 * 1. plans the upload: one presigned PUT up to the multipart threshold, a multipart upload above;
 * 2. for a multipart upload, starts it in S3 (if step 3 fails, an incomplete upload is left,
 *    never an object);
 * 3. records the artifact `awaiting-upload` under its S3 key `artifacts/<id>`;
 * 4. presigns the PUT URL, or one UploadPart URL per part, all expiring together.
 */
export const makeCreateArtifact =
  (ports: {
    releases: ReleaseStore;
    storage: ArtifactStorage;
    clock: Clock;
    newArtifactId: () => string;
    config: UploadConfig;
  }) =>
  async (spec: ArtifactSpec): Promise<CreatedArtifact> => {
    const { releases, storage, clock, config } = ports;
    const artifactId = ports.newArtifactId();
    const key = artifactKey(artifactId);
    const plan = planUpload(spec.size, config.multipartThreshold);
    const upload: ArtifactUpload =
      plan.type === 'multipart' ? { ...plan, uploadId: await storage.startMultipartUpload(key) } : plan;
    const now = clock.now();
    const artifact = newArtifact(artifactId, spec, upload, now);
    await releases.createArtifact(artifact);

    const expiresAt = new Date(now.getTime() + config.urlTtlSeconds * 1000).toISOString();
    if (upload.type === 'single') {
      const url = await storage.presignPut(key, config.urlTtlSeconds);
      return { artifact, upload: { type: 'single', method: 'PUT', url, expiresAt } };
    }
    const parts = await Promise.all(
      partRanges(spec.size, upload.partSize).map(async (range) => ({
        ...range,
        url: await storage.presignPart(key, upload.uploadId, range.partNumber, config.urlTtlSeconds),
      })),
    );
    return { artifact, upload: { type: 'multipart', partSize: upload.partSize, expiresAt, parts } };
  };
