import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetHealthReader } from '../adapters/dynamodb-fleet-health-reader';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeSummarizeFleet } from '../use-cases/summarize-fleet';
import { httpErrors, json, requireRole } from './http';
import { FleetSummaryQuery } from './schemas';

const summarizeFleet = makeSummarizeFleet({
  health: new DynamoDbFleetHealthReader(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** `GET /fleet/summary?groupBy=site,version`: the cohort statistics, grouped. */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { groupBy } = parseInput(FleetSummaryQuery, event.queryStringParameters ?? {}, 'query');
    return json(200, await summarizeFleet(groupBy));
  });
