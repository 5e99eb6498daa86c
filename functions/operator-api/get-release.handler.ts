import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeGetRelease } from '../use-cases/get-release';
import { httpErrors, json, requireRole } from './http';
import { ReleasePath } from './release-schemas';
import { releaseView } from './release-view';

const getRelease = makeGetRelease({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /releases/{releaseId}` */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { releaseId } = parseInput(ReleasePath, event.pathParameters ?? {}, 'path');
    return json(200, releaseView(await getRelease(releaseId)));
  });
