import { ValidationError } from '../domain/errors';
import type { ArtifactStorage, StoredObject, UploadedPart } from '../ports/artifact-storage';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { S3Api, S3Object } from '../shared/aws-api/s3';

/** What S3 answers for a key or version it does not have (to a role that may list the bucket). */
const MISSING = ['NoSuchKey', 'NoSuchVersion', 'NotFound'];

/** What S3 answers when the listed parts cannot make the object. */
const REFUSED_PARTS = ['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall'];

/**
 * ArtifactStorage on the (versioned) artifact bucket. Presigned URLs carry the signing role's
 * permissions, limited to the one key or part they were made for, until they expire.
 */
export class S3ArtifactStorage implements ArtifactStorage {
  constructor(
    private readonly s3: S3Api,
    private readonly bucket: string,
  ) {}

  presignPut(key: string, expiresInSeconds: number): Promise<string> {
    return this.s3.presignPut(this.bucket, key, expiresInSeconds);
  }

  startMultipartUpload(key: string): Promise<string> {
    return this.s3.createMultipartUpload(this.bucket, key);
  }

  presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string> {
    return this.s3.presignPut(this.bucket, key, expiresInSeconds, { uploadId, partNumber });
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<boolean> {
    try {
      await this.s3.completeMultipartUpload(this.bucket, key, uploadId, parts);
      return true;
    } catch (error) {
      if (isAwsApiError(error, 'NoSuchUpload')) return false;
      if (isAwsApiError(error, ...REFUSED_PARTS)) {
        throw new ValidationError(`S3 refused the parts: ${error.message}`, [
          { field: 'parts', message: error.name },
        ]);
      }
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    // Listing needs only s3:ListBucket on the prefix; HeadObject would need s3:GetObject, and
    // answers 403 rather than 404 for a missing key without ListBucket anyway.
    const keys = await this.s3.listKeys(this.bucket, key, 1);
    return keys.includes(key);
  }

  async read(key: string): Promise<StoredObject | undefined> {
    try {
      const { body, versionId } = await this.s3.getObject(this.bucket, key);
      return { versionId, body };
    } catch (error) {
      // Only a role that may also list the bucket is told NoSuchKey; one that may not (the seal)
      // gets AccessDenied for a missing key, which is thrown: the artifact stays `sealing`.
      if (isAwsApiError(error, 'NoSuchKey')) return undefined;
      throw error;
    }
  }

  async readBytes(key: string, versionId: string | undefined, maxBytes: number): Promise<Buffer | undefined> {
    let object: S3Object;
    try {
      object = await this.s3.getObject(this.bucket, key, versionId || undefined);
    } catch (error) {
      if (isAwsApiError(error, ...MISSING)) return undefined;
      throw error;
    }
    const { body, contentLength: length } = object;
    if (length === undefined || length > maxBytes) {
      await body.cancel();
      if (length === undefined) throw new Error(`S3 returned no length for ${key}`);
      throw new Error(`${key} is ${length} bytes, more than the ${maxBytes} allowed`);
    }
    // One buffer of the announced length, filled in place: no second copy of a large object.
    const bytes = Buffer.allocUnsafe(length);
    let offset = 0;
    // Leaving the loop early (a throw) cancels the rest of the body.
    for await (const chunk of body) {
      if (offset + chunk.byteLength > length) {
        throw new Error(`${key} sent more than the ${length} bytes announced`);
      }
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    if (offset !== length) throw new Error(`${key} ended after ${offset} of ${length} bytes`);
    return bytes;
  }

  putObject(key: string, bytes: Uint8Array): Promise<{ readonly versionId: string | undefined }> {
    return this.s3.putObject(this.bucket, key, bytes);
  }
}
