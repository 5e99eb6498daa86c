import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { TrustFiles } from '../ports/trust-repository';

export const TRUST_PREFIX = 'tuf/';

/**
 * TrustFiles in the artifact bucket under `tuf/`. Anyone who can write there can replace the
 * files, and devices will refuse what they replace: the files are signed, the bucket is not
 * trusted. Metadata is short-lived in caches (`no-cache`): timestamp.json changes every refresh.
 */
export class S3TrustFiles implements TrustFiles {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(name: string, body: Buffer): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: `${TRUST_PREFIX}${name}`,
        Body: body,
        ContentType: 'application/json',
        CacheControl: 'no-cache',
      }),
    );
  }

  async get(name: string): Promise<Buffer | undefined> {
    try {
      const response = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: `${TRUST_PREFIX}${name}` }),
      );
      return response.Body ? Buffer.from(await response.Body.transformToByteArray()) : undefined;
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw error;
    }
  }

  location(name: string): string {
    return `s3://${this.bucket}/${TRUST_PREFIX}${name}`;
  }
}
