import type { S3Client } from '@aws-sdk/client-s3';

/**
 * Local AWS speaks plain HTTP and counts a request as TLS (aws:SecureTransport) only when it says
 * `X-Forwarded-Proto: https`; the artifact bucket denies all others, as S3 does. The header is
 * added after signing, so no signature or presigned URL includes it. Only for clients of local AWS.
 */
export function markRequestsAsTls(s3: S3Client): S3Client {
  s3.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-forwarded-proto'] = 'https';
      return next(args);
    },
    { step: 'deserialize', name: 'localAwsTlsMarker' },
  );
  return s3;
}
