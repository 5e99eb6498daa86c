import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeListReleases } from '../use-cases/get-release';
import { httpErrors, json, requireRole } from './http';
import { ListReleasesQuery } from './release-schemas';
import { releaseView } from './release-view';

const listReleases = makeListReleases({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /releases?limit=&cursor=`: one page of releases, newest first. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const query = parseInput(ListReleasesQuery, event.queryStringParameters ?? {}, 'query');
    const page = await listReleases(query);
    return json(200, { items: page.items.map(releaseView), nextCursor: page.nextCursor ?? null });
  });
