/**
 * SDK clients, made once per Lambda container and shared by every invocation.
 * They honour AWS_ENDPOINT_URL, which points them at local AWS when it is set.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IoTClient } from '@aws-sdk/client-iot';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const iot = new IoTClient({});

export const sfn = new SFNClient({});

const localAws = process.env.AWS_ENDPOINT_URL !== undefined;

export const s3 = new S3Client({
  // Local AWS serves buckets by path (`<endpoint>/<bucket>/<key>`), also in presigned URLs.
  forcePathStyle: localAws,
  // Otherwise presigned PUT URLs would carry a checksum of an empty body, which the uploader's
  // bytes then fail. The backend computes its own SHA-256 after the upload anyway.
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
if (localAws) {
  // Local AWS speaks plain HTTP and counts a request as TLS (aws:SecureTransport) only when it
  // says `X-Forwarded-Proto: https`; the artifact bucket denies all others, as S3 does. Added
  // after signing, so no signature or presigned URL includes it. In AWS this never runs.
  s3.middlewareStack.add(
    (next) => (args) => {
      const request = args.request as { headers?: Record<string, string> };
      if (request.headers) request.headers['x-forwarded-proto'] = 'https';
      return next(args);
    },
    { step: 'deserialize', name: 'localAwsTlsMarker' },
  );
}

export const lambda = new LambdaClient({});
