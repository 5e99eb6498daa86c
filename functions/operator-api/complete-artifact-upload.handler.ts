import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { lambda } from '#clients/lambda';
import { s3 } from '#clients/s3';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { LambdaArtifactSealer } from '../adapters/lambda-artifact-sealer';
import { S3ArtifactStorage } from '../adapters/s3-artifact-storage';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeCompleteArtifactUpload } from '../use-cases/complete-artifact-upload';
import { artifactView } from './artifact-view';
import { httpErrors, json, requireRole } from './http';
import { ArtifactPath, CompleteArtifactRequest } from './release-schemas';

const completeArtifactUpload = makeCompleteArtifactUpload({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  storage: new S3ArtifactStorage(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  sealer: new LambdaArtifactSealer(lambda, requireEnv('SEAL_FUNCTION_NAME')),
  clock: systemClock,
});

/**
 * `POST /artifacts/{artifactId}/complete`: 202 while the backend measures the artifact (poll
 * `GET /artifacts/{artifactId}`), 200 when it was sealed before and nothing changed.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { artifactId } = parseInput(ArtifactPath, event.pathParameters ?? {}, 'path');
    const body = parseJsonBody(CompleteArtifactRequest, event.body, event.isBase64Encoded);
    const { outcome, artifact } = await completeArtifactUpload({
      artifactId,
      ...(body?.parts ? { parts: body.parts } : {}),
    });
    logger.info('Artifact upload completed', { artifactId, outcome, status: artifact.status });
    return json(outcome === 'sealing' ? 202 : 200, artifactView(artifact));
  });
