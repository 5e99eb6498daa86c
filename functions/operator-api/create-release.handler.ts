import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbReleaseStore } from '../adapters/dynamodb-release-store';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseJsonBody } from '../shared/parse';
import { makeCreateRelease } from '../use-cases/create-release';
import { httpErrors, json, requireRole } from './http';
import { CreateReleaseRequest, releaseRequestOf } from './release-schemas';
import { releaseView } from './release-view';

const createRelease = makeCreateRelease({
  releases: new DynamoDbReleaseStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  clock: systemClock,
});

/** `POST /releases`: a release is made once per version and never changes. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const body = parseJsonBody(CreateReleaseRequest, event.body, event.isBase64Encoded);
    const release = await createRelease(releaseRequestOf(body));
    logger.info('Release created', {
      releaseId: release.releaseId,
      hardwareTypes: Object.keys(release.components),
      components: [...new Set(Object.values(release.components).flatMap((cs) => cs.map((c) => c.name)))],
    });
    return json(201, releaseView(release));
  });
