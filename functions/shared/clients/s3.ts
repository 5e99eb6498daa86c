/** The S3 client, made once per container, set up for local AWS when AWS_ENDPOINT_URL is set. */
import { S3Client } from '@aws-sdk/client-s3';
import { markRequestsAsTls } from '../local-aws-tls';

const localAws = process.env.AWS_ENDPOINT_URL !== undefined;

export const s3 = new S3Client({
  // Local AWS serves buckets by path (`<endpoint>/<bucket>/<key>`), also in presigned URLs.
  forcePathStyle: localAws,
  // Otherwise presigned PUT URLs would carry a checksum of an empty body, which the uploader's
  // bytes then fail. The backend computes its own SHA-256 after the upload anyway.
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
// In AWS this never runs (see local-aws-tls.ts).
if (localAws) markRequestsAsTls(s3);
