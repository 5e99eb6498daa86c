import { randomUUID } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { s3 } from '#clients/s3';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { S3ArtifactStorage } from '../adapters/s3-artifact-storage';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseJsonBody } from '../shared/parse';
import { makeCreateArtifact } from '../use-cases/create-artifact';
import { artifactView } from './artifact-view';
import { httpErrors, json, requireRole } from './http';
import { CreateArtifactRequest } from './release-schemas';

function requirePositiveInteger(name: string): number {
  const value = Number(requireEnv(name));
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new Error(`Environment variable ${name} must be a positive integer`);
  }
  return value;
}

const createArtifact = makeCreateArtifact({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  storage: new S3ArtifactStorage(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  clock: systemClock,
  newArtifactId: () => `art-${randomUUID()}`,
  config: {
    multipartThreshold: requirePositiveInteger('MULTIPART_THRESHOLD_BYTES'),
    urlTtlSeconds: requirePositiveInteger('UPLOAD_URL_TTL_SECONDS'),
  },
});

/**
 * `POST /artifacts`: records the artifact and answers with where to upload it (presigned URLs).
 * Then `POST /artifacts/{artifactId}/complete`.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const spec = parseJsonBody(CreateArtifactRequest, event.body, event.isBase64Encoded);
    const { artifact, upload } = await createArtifact(spec);
    logger.info('Artifact created', {
      artifactId: artifact.artifactId,
      upload: upload.type,
      declaredSize: artifact.declaredSize,
    });
    return json(201, { artifact: artifactView(artifact), upload });
  });
