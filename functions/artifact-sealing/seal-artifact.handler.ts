import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { dynamoDb } from '#clients/dynamodb';
import { s3 } from '#clients/s3';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { S3ArtifactStorage } from '../adapters/s3-artifact-storage';
import { ValidationError } from '../domain/errors';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeSealArtifact } from '../use-cases/seal-artifact';
import { SealArtifactEventV1 } from './schemas';

const sealArtifact = makeSealArtifact({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  storage: new S3ArtifactStorage(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  clock: systemClock,
});

/**
 * Invoked asynchronously by `POST /artifacts/{id}/complete`. A malformed event is logged and
 * dropped (a retry cannot fix it); an error reading or writing is thrown, so Lambda retries.
 */
export const handler = middy<unknown, void>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    let request: SealArtifactEventV1;
    try {
      request = parseInput(SealArtifactEventV1, event, 'seal request');
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      logger.warn('Rejected seal request', { reason: error.message, issues: error.issues });
      return;
    }
    const outcome = await sealArtifact(request.artifactId);
    logger.info('Artifact seal', { artifactId: request.artifactId, outcome });
  });
