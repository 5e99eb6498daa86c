import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeGetArtifact } from '../use-cases/get-artifact';
import { artifactView } from './artifact-view';
import { httpErrors, json, requireRole } from './http';
import { ArtifactPath } from './release-schemas';

const getArtifact = makeGetArtifact({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /artifacts/{artifactId}` */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { artifactId } = parseInput(ArtifactPath, event.pathParameters ?? {}, 'path');
    return json(200, artifactView(await getArtifact(artifactId)));
  });
