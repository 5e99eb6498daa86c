import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbAuditTrail } from '../adapters/dynamodb-audit-trail';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeListAuditEntries } from '../use-cases/list-audit-entries';
import { ListAuditQuery } from './audit-schemas';
import { AUDIT_TABLE_ENV, httpErrors, json, requireRole } from './http';

const listAuditEntries = makeListAuditEntries({
  trail: new DynamoDbAuditTrail(dynamoDb, requireEnv(AUDIT_TABLE_ENV)),
  clock: systemClock,
});

/**
 * `GET /audit?from=&to=&actor=&deviceId=&rolloutId=&limit=&cursor=`: the operator actions in the
 * range, newest first. Each request reads a bounded number of entries, so a filtered page may be
 * short and still carry `nextCursor`: send the same query with it until it is null.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const query = parseInput(ListAuditQuery, event.queryStringParameters ?? {}, 'query');
    return json(200, await listAuditEntries(query));
  });
