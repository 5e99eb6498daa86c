/**
 * The trust repository: its bookkeeping in DynamoDB and the locations of its files in S3 (read
 * only here).
 */
import { dynamoDb } from '#clients/dynamodb';
import { s3 } from '#clients/s3';
import { DynamoDbTrustStore } from '../../adapters/dynamodb-trust-store';
import { S3TrustFiles } from '../../adapters/s3-trust-files';
import { requireEnv } from '../env';
import { once } from '../once';

export const trustStore = once(() => new DynamoDbTrustStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')));
export const trustRepository = once(() => ({
  store: trustStore(),
  files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
}));
