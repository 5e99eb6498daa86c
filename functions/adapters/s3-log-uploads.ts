import type { LogUploads, PresignedPost } from '../ports/log-uploads';
import type { S3Api } from '../shared/aws-api/s3';
import { signPostPolicy } from '../shared/aws-api/s3-post-policy';

/** Where device logs go in the logs bucket: one object per command. */
export const DEVICE_LOGS_PREFIX = 'device-logs/';

/**
 * LogUploads on the private logs bucket: each command's logs at
 * `device-logs/<deviceId>/<commandId>.log.gz`; devices upload with a presigned POST that pins
 * that key, the content type and the size; operators read with a presigned GET.
 */
export class S3LogUploads implements LogUploads {
  constructor(
    private readonly s3: S3Api,
    private readonly bucket: string,
  ) {}

  keyFor(deviceId: string, commandId: string): string {
    return `${DEVICE_LOGS_PREFIX}${deviceId}/${commandId}.log.gz`;
  }

  async presignUpload(key: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedPost> {
    const form = signPostPolicy({
      bucket: this.bucket,
      key,
      contentType: 'application/gzip',
      minBytes: 1,
      maxBytes,
      expiresInSeconds,
    });
    return { url: this.s3.postUrl(this.bucket), fields: form.fields, expiresAt: form.expiresAt };
  }

  presignDownload(key: string, expiresInSeconds: number): Promise<string> {
    return this.s3.presignGet(this.bucket, key, expiresInSeconds);
  }
}
