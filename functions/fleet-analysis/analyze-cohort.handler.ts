import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoDbAnomalyStore } from '../adapters/dynamodb-anomaly-store';
import { DynamoDbCohortReader } from '../adapters/dynamodb-cohort-reader';
import { EventBridgeFleetEventPublisher } from '../adapters/eventbridge-fleet-event-publisher';
import { EventBridgeApi } from '../shared/aws-api/events';
import { dynamoDb } from '../shared/clients/dynamodb';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeAnalyzeCohort } from '../use-cases/analyze-cohort';
import { AnalyzeCohortRequest } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const freshForSeconds = Number(requireEnv('FRESH_FOR_SECONDS'));
if (!Number.isInteger(freshForSeconds) || freshForSeconds <= 0)
  throw new Error('FRESH_FOR_SECONDS must be a positive whole number of seconds');

const analyzeCohort = makeAnalyzeCohort(
  {
    cohorts: new DynamoDbCohortReader(dynamoDb, tableName),
    store: new DynamoDbAnomalyStore(dynamoDb, tableName),
    events: new EventBridgeFleetEventPublisher(new EventBridgeApi()),
  },
  { freshForMs: freshForSeconds * 1000 },
);

/**
 * The fleet analysis's per-cohort step (lib/fleet-analysis.ts): scores one cohort's devices
 * against each other, steps their anomaly streaks and flags, and writes the cohort's statistics.
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const request = parseInput(AnalyzeCohortRequest, event, 'cohort analysis request');
    logger.appendKeys({ cohort: request.cohort.cohort, runId: request.runId });
    const summary = await analyzeCohort(request);
    logger.info('cohort analyzed', { ...summary });
    return summary;
  });
