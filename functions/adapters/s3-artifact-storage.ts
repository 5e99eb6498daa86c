import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  NoSuchKey,
  NoSuchUpload,
  PutObjectCommand,
  type S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ValidationError } from '../domain/errors';
import type { ArtifactStorage, StoredObject, UploadedPart } from '../ports/artifact-storage';

/** What S3 answers for a key or version it does not have (to a role that may list the bucket). */
const MISSING = new Set(['NoSuchKey', 'NoSuchVersion', 'NotFound']);

/** What S3 answers when the listed parts cannot make the object. */
const REFUSED_PARTS = new Set(['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall']);

/**
 * ArtifactStorage on the (versioned) artifact bucket. Presigned URLs carry the signing role's
 * permissions, limited to the one key or part they were made for, until they expire.
 */
export class S3ArtifactStorage implements ArtifactStorage {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  presignPut(key: string, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(this.s3, new PutObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
    });
  }

  async startMultipartUpload(key: string): Promise<string> {
    const { UploadId } = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }),
    );
    if (!UploadId) throw new Error('S3 returned no multipart upload id');
    return UploadId;
  }

  presignPart(key: string, uploadId: string, partNumber: number, expiresInSeconds: number): Promise<string> {
    return getSignedUrl(
      this.s3,
      new UploadPartCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId, PartNumber: partNumber }),
      { expiresIn: expiresInSeconds },
    );
  }

  async completeMultipartUpload(
    key: string,
    uploadId: string,
    parts: readonly UploadedPart[],
  ): Promise<boolean> {
    try {
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts.map((part) => ({ PartNumber: part.partNumber, ETag: part.etag })) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof NoSuchUpload) return false;
      if (error instanceof S3ServiceException && REFUSED_PARTS.has(error.name)) {
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
    const { Contents } = await this.s3.send(
      new ListObjectsV2Command({ Bucket: this.bucket, Prefix: key, MaxKeys: 1 }),
    );
    return (Contents ?? []).some((object) => object.Key === key);
  }

  async read(key: string): Promise<StoredObject | undefined> {
    try {
      const { Body, VersionId } = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!Body) throw new Error(`S3 returned no body for ${key}`);
      // In Node.js the body is a Readable: an async iterable of Buffers.
      return { versionId: VersionId, body: Body as unknown as AsyncIterable<Uint8Array> };
    } catch (error) {
      // Only a role that may also list the bucket is told NoSuchKey; one that may not (the seal)
      // gets AccessDenied for a missing key, which is thrown: the artifact stays `sealing`.
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  async readBytes(key: string, versionId: string | undefined, maxBytes: number): Promise<Buffer | undefined> {
    let response: GetObjectCommandOutput;
    try {
      response = await this.s3.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: key,
          ...(versionId ? { VersionId: versionId } : {}),
        }),
      );
    } catch (error) {
      if (error instanceof S3ServiceException && MISSING.has(error.name)) return undefined;
      throw error;
    }
    const body = response.Body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
    const length = response.ContentLength;
    if (!body || length === undefined) throw new Error(`S3 returned no body or length for ${key}`);
    if (length > maxBytes) {
      body.destroy?.();
      throw new Error(`${key} is ${length} bytes, more than the ${maxBytes} allowed`);
    }
    // One buffer of the announced length, filled in place: no second copy of a large object.
    const bytes = Buffer.allocUnsafe(length);
    let offset = 0;
    for await (const chunk of body) {
      if (offset + chunk.byteLength > length) {
        body.destroy?.();
        throw new Error(`${key} sent more than the ${length} bytes announced`);
      }
      bytes.set(chunk, offset);
      offset += chunk.byteLength;
    }
    if (offset !== length) throw new Error(`${key} ended after ${offset} of ${length} bytes`);
    return bytes;
  }

  async putObject(key: string, bytes: Uint8Array): Promise<{ readonly versionId: string | undefined }> {
    const { VersionId } = await this.s3.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: bytes, ContentLength: bytes.byteLength }),
    );
    return { versionId: VersionId };
  }
}
