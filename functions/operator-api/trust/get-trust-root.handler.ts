import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { s3 } from '#clients/s3';
import { DynamoDbTrustStore } from '../../adapters/dynamodb-trust-store';
import { S3TrustFiles } from '../../adapters/s3-trust-files';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { makeGetTrustRoot } from '../../use-cases/trust/get-trust-root';
import { httpErrors, json, requireRole } from '../http';

const getTrustRoot = makeGetTrustRoot({
  store: new DynamoDbTrustStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
});

/** `GET /trust/root`: the newest root metadata (public: it holds public keys and signatures). */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async () => {
    const root = await getTrustRoot();
    return root === undefined
      ? json(404, { message: 'No root yet: run the root ceremony (npm run trust -- init)' })
      : json(200, root);
  });
