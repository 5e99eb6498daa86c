/**
 * An artifact: one file (firmware image, application, model or config) for one hardware type, as
 * the catalog knows it. Its bytes live in the artifact bucket under `artifacts/<artifactId>`;
 * its size and SHA-256 are what the backend measured itself, never what the uploader declared.
 *
 * Lifecycle: `awaiting-upload` → (upload completed) `sealing` → `ready` | `rejected`.
 * `ready` and `rejected` are terminal: nothing changes a sealed artifact again.
 */
import { createHash } from 'node:crypto';

export const ARTIFACT_KINDS = ['firmware', 'app', 'model', 'config'] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];

export type ArtifactStatus = 'awaiting-upload' | 'sealing' | 'ready' | 'rejected';

/** `art-` and a random UUID: unguessable, and safe in S3 keys, URLs and DynamoDB keys. */
export const ARTIFACT_ID_PATTERN = /^art-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export { VERSION_PATTERN } from '../../contract/identifiers';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** S3 wants parts of ≥ 5 MiB except the last; 8 MiB also keeps small uploads to a few parts. */
export const MIN_PART_SIZE = 8 * MiB;
/**
 * S3 allows 10 000 parts; we presign every part URL in one API response, which must stay under
 * Lambda's 6 MB response limit (a presigned URL with session credentials is ~1.5 KB).
 */
export const MAX_PARTS = 1000;
/** A single PUT carries at most 5 GiB (S3's limit), so the multipart threshold cannot exceed it. */
export const MAX_SINGLE_UPLOAD_SIZE = 5 * GiB;
/** What the seal Lambda can stream and hash well within its 15-minute limit. */
export const MAX_ARTIFACT_SIZE = 20 * GiB;

export const artifactKey = (artifactId: string) => `artifacts/${artifactId}`;

/** What an operator declares when creating an artifact. */
export interface ArtifactSpec {
  readonly kind: ArtifactKind;
  readonly hardwareType: string;
  readonly version: string;
  /** Declared size in bytes; the sealed artifact must measure exactly this. */
  readonly size: number;
  readonly name?: string;
}

export type UploadPlan =
  | { readonly type: 'single' }
  | { readonly type: 'multipart'; readonly partSize: number; readonly partCount: number };

/** How an artifact's bytes are being uploaded: a multipart upload also has S3's upload id. */
export type ArtifactUpload =
  | { readonly type: 'single' }
  | (Extract<UploadPlan, { type: 'multipart' }> & { readonly uploadId: string });

export interface Artifact {
  readonly artifactId: string;
  readonly kind: ArtifactKind;
  readonly hardwareType: string;
  readonly version: string;
  readonly name?: string;
  readonly declaredSize: number;
  readonly s3Key: string;
  readonly status: ArtifactStatus;
  readonly upload: ArtifactUpload;
  readonly createdAt: string;
  /** When the upload was confirmed complete and sealing was asked for. */
  readonly completedAt?: string;
  /** Measured by the backend: set once, when the artifact becomes ready. */
  readonly sha256?: string;
  readonly size?: number;
  /** The S3 object version that was measured; a later upload to the same key does not change it. */
  readonly s3VersionId?: string;
  readonly sealedAt?: string;
  readonly rejectionReason?: string;
}

/** A ready artifact: its measured fields are all set. */
export type ReadyArtifact = Artifact & {
  readonly status: 'ready';
  readonly sha256: string;
  readonly size: number;
  readonly s3VersionId: string;
};

export const isReady = (artifact: Artifact): artifact is ReadyArtifact =>
  artifact.status === 'ready' &&
  artifact.sha256 !== undefined &&
  artifact.size !== undefined &&
  artifact.s3VersionId !== undefined;

/**
 * How the bytes get to S3: one presigned PUT up to `multipartThreshold`, a multipart upload above
 * it, with parts of at least MIN_PART_SIZE (whole MiB) and at most MAX_PARTS of them.
 */
export function planUpload(size: number, multipartThreshold: number): UploadPlan {
  if (size <= multipartThreshold) return { type: 'single' };
  const partSize = Math.max(MIN_PART_SIZE, Math.ceil(size / MAX_PARTS / MiB) * MiB);
  return { type: 'multipart', partSize, partCount: Math.ceil(size / partSize) };
}

export interface PartRange {
  readonly partNumber: number;
  readonly offset: number;
  readonly length: number;
}

/** The byte range each part of a multipart upload carries, parts numbered from 1. */
export function partRanges(size: number, partSize: number): PartRange[] {
  const count = Math.ceil(size / partSize);
  return Array.from({ length: count }, (_, i) => ({
    partNumber: i + 1,
    offset: i * partSize,
    length: Math.min(partSize, size - i * partSize),
  }));
}

export function newArtifact(
  artifactId: string,
  spec: ArtifactSpec,
  upload: ArtifactUpload,
  now: Date,
): Artifact {
  return {
    artifactId,
    kind: spec.kind,
    hardwareType: spec.hardwareType,
    version: spec.version,
    ...(spec.name === undefined ? {} : { name: spec.name }),
    declaredSize: spec.size,
    s3Key: artifactKey(artifactId),
    status: 'awaiting-upload',
    upload,
    createdAt: now.toISOString(),
  };
}

/** What the backend measured by reading the stored object once, start to end. */
export interface ArtifactDigest {
  readonly sha256: string;
  readonly size: number;
  readonly s3VersionId: string;
}

export type SealVerdict =
  | { readonly status: 'ready'; readonly digest: ArtifactDigest }
  | { readonly status: 'rejected'; readonly reason: string };

/** An artifact is ready only when the bytes measured are exactly as many as were declared. */
export function sealVerdict(artifact: Artifact, digest: ArtifactDigest): SealVerdict {
  if (digest.size !== artifact.declaredSize) {
    return {
      status: 'rejected',
      reason: `size-mismatch: declared ${artifact.declaredSize} bytes, received ${digest.size}`,
    };
  }
  return { status: 'ready', digest };
}

/** SHA-256 (lowercase hex) and byte count of a stream, read once without holding it in memory. */
export async function measure(chunks: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of chunks) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}
