import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { dynamoDb } from '#clients/dynamodb';
import { s3 } from '#clients/s3';
import { DynamoDbDeltaStore } from '../adapters/dynamodb-delta-store';
import { S3ArtifactStorage } from '../adapters/s3-artifact-storage';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeBuildDelta } from '../use-cases/build-delta';
import { BuildDeltaEventV1 } from './schemas';

const buildDelta = makeBuildDelta({
  // The shared client: locally it marks requests as TLS, which the bucket policy requires.
  storage: new S3ArtifactStorage(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
  deltas: new DynamoDbDeltaStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  clock: systemClock,
});

/**
 * Invoked by the rollout state machine once per planned delta. Every failure (malformed input,
 * an input that is not the pinned image, a patch that does not rebuild the image) is thrown:
 * the state machine records it and the rollout goes on, its devices taking the full image.
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const { rolloutId, build } = parseInput(BuildDeltaEventV1, event, 'delta build');
    logger.appendKeys({
      rolloutId,
      releaseId: build.releaseId,
      hardwareType: build.hardwareType,
      component: build.component,
    });
    const started = Date.now();
    const result = await buildDelta(build);
    logger.info('Delta build', {
      outcome: result.outcome,
      status: result.delta?.status,
      baseSha256: build.base.sha256,
      imageSize: build.image.size,
      patchSize: result.delta?.size,
      deviceCount: build.deviceCount,
      ms: Date.now() - started,
    });
    return { outcome: result.outcome, status: result.delta?.status ?? null };
  });
