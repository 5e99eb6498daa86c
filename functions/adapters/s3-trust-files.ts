import type { TrustFiles } from '../ports/trust-repository';
import { isAwsApiError } from '../shared/aws-api/aws-service';
import type { S3Api } from '../shared/aws-api/s3';

export const TRUST_PREFIX = 'tuf/';

/**
 * TrustFiles in the artifact bucket under `tuf/`. Anyone who can write there can replace the
 * files, and devices will refuse what they replace: the files are signed, the bucket is not
 * trusted. Metadata is short-lived in caches (`no-cache`): timestamp.json changes every refresh.
 */
export class S3TrustFiles implements TrustFiles {
  constructor(
    private readonly s3: S3Api,
    private readonly bucket: string,
  ) {}

  async put(name: string, body: Buffer): Promise<void> {
    await this.s3.putObject(this.bucket, `${TRUST_PREFIX}${name}`, body, {
      contentType: 'application/json',
      cacheControl: 'no-cache',
    });
  }

  async get(name: string): Promise<Buffer | undefined> {
    try {
      const { body } = await this.s3.getObject(this.bucket, `${TRUST_PREFIX}${name}`);
      return Buffer.from(await new Response(body).arrayBuffer());
    } catch (error) {
      if (isAwsApiError(error, 'NoSuchKey')) return undefined;
      throw error;
    }
  }

  location(name: string): string {
    return `s3://${this.bucket}/${TRUST_PREFIX}${name}`;
  }
}
