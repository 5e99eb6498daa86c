/** A part the uploader sent, as S3 acknowledged it (the ETag of its UploadPart response). */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

export interface StoredObject {
  /** The object version being read: what the bytes belong to, even if the key is written again. */
  readonly versionId: string | undefined;
  readonly body: AsyncIterable<Uint8Array>;
}

/**
 * Where artifact bytes live. Uploaders never get credentials: they get short-lived presigned
 * URLs for exactly one key (or one part of one multipart upload).
 */
export interface ArtifactStorage {
  /** A presigned PUT URL for `key`, valid for `expiresInSeconds`. */
  presignPut(key: string, expiresInSeconds: number): Promise<string>;
  /** Starts a multipart upload to `key` and returns its upload id. */
  startMultipartUpload(key: string): Promise<string>;
  /** A presigned UploadPart URL for one part, valid for `expiresInSeconds`. */
  presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string>;
  /**
   * Assembles the object from its parts. Returns false when S3 no longer knows the upload (it
   * was completed before, or aborted); throws ValidationError naming `parts` for parts S3 refuses.
   */
  completeMultipartUpload(key: string, uploadId: string, parts: readonly UploadedPart[]): Promise<boolean>;
  /** Whether an object is stored at `key`. */
  exists(key: string): Promise<boolean>;
  /** Streams the current version of the object; undefined when there is none. */
  read(key: string): Promise<StoredObject | undefined>;
  /**
   * Reads one version of an object (the current one without `versionId`) whole into memory;
   * undefined when there is no such object or version. Throws, having read no more, when the
   * object is larger than `maxBytes`.
   */
  readBytes(key: string, versionId: string | undefined, maxBytes: number): Promise<Buffer | undefined>;
  /** Stores `bytes` at `key` (a new version in a versioned bucket) and returns its version id. */
  putObject(key: string, bytes: Uint8Array): Promise<{ readonly versionId: string | undefined }>;
}
