/**
 * S3 presigned POST (browser-based upload with a POST policy, SigV4): a form an unauthenticated
 * client posts to the bucket, whose signed policy pins the object key, the content type and a
 * `content-length-range`, so the holder can write one object of bounded size and nothing else.
 * A presigned PUT cannot bound the size unless the exact length is signed; this can.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
 */
import { createHmac } from 'node:crypto';
import { region } from './aws-service';

export interface PostPolicyInput {
  readonly bucket: string;
  readonly key: string;
  readonly contentType: string;
  readonly minBytes: number;
  readonly maxBytes: number;
  readonly expiresInSeconds: number;
  readonly now?: Date;
}

export interface SignedPostForm {
  /** Form fields to send before the `file` field, in this order. */
  readonly fields: Record<string, string>;
  readonly expiresAt: Date;
}

const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** The signed form fields for one upload, with the function role's credentials from the environment. */
export function signPostPolicy(input: PostPolicyInput): SignedPostForm {
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY)
    throw new Error('No AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)');
  const now = input.now ?? new Date();
  const amzDate = `${now.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
  const dateStamp = amzDate.slice(0, 8);
  const scopeRegion = region();
  const credential = `${AWS_ACCESS_KEY_ID}/${dateStamp}/${scopeRegion}/s3/aws4_request`;
  const expiresAt = new Date(now.getTime() + input.expiresInSeconds * 1000);
  const fields: Record<string, string> = {
    key: input.key,
    'Content-Type': input.contentType,
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': credential,
    'x-amz-date': amzDate,
    ...(AWS_SESSION_TOKEN ? { 'x-amz-security-token': AWS_SESSION_TOKEN } : {}),
  };
  const policy = {
    expiration: expiresAt.toISOString(),
    conditions: [
      { bucket: input.bucket },
      ...Object.entries(fields).map(([name, value]) => ({ [name]: value })),
      ['content-length-range', input.minBytes, input.maxBytes],
    ],
  };
  const encoded = Buffer.from(JSON.stringify(policy), 'utf8').toString('base64');
  const signingKey = hmac(
    hmac(hmac(hmac(`AWS4${AWS_SECRET_ACCESS_KEY}`, dateStamp), scopeRegion), 's3'),
    'aws4_request',
  );
  return {
    fields: { ...fields, policy: encoded, 'x-amz-signature': hmac(signingKey, encoded).toString('hex') },
    expiresAt,
  };
}
