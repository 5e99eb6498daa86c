import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { CloudWatchFleetMetricsPublisher } from '../adapters/cloudwatch-fleet-metrics-publisher';
import { DynamoDbCohortReader } from '../adapters/dynamodb-cohort-reader';
import type { CohortResult } from '../domain/cohort-statistics';
import { CloudWatchApi } from '../shared/aws-api/cloudwatch';
import { dynamoDb } from '../shared/clients/dynamodb';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import {
  COHORTS_PER_PAGE,
  makeNextCohortPage,
  makePublishFleetTotals,
} from '../use-cases/publish-fleet-totals';
import { FleetStepRequest } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const metrics = new CloudWatchFleetMetricsPublisher(new CloudWatchApi());
const cohortsPerPage = Number(process.env.COHORTS_PER_PAGE ?? COHORTS_PER_PAGE);
if (!Number.isInteger(cohortsPerPage) || cohortsPerPage < 1 || cohortsPerPage > COHORTS_PER_PAGE)
  throw new Error(`COHORTS_PER_PAGE must be a whole number from 1 to ${COHORTS_PER_PAGE}`);
const nextCohortPage = makeNextCohortPage(
  { cohorts: new DynamoDbCohortReader(dynamoDb, tableName), metrics },
  { cohortsPerPage },
);
const publishFleetTotals = makePublishFleetTotals({ metrics });

/**
 * The fleet analysis's steps around the cohorts (lib/fleet-analysis.ts): `next-page` publishes
 * the page just analyzed, adds it to the run's totals and lists the next page of cohorts;
 * `publish-totals` ends the run with the fleet's totals.
 */
export const handler = middy<unknown, unknown>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const request = parseInput(FleetStepRequest, event, 'fleet analysis step');
    if (request.step === 'publish-totals') {
      const totals = await publishFleetTotals(request);
      logger.info('fleet totals published', { ...totals });
      return totals;
    }
    const results: CohortResult[] = request.results.map((r) =>
      'failed' in r ? { cohort: r.cohort.cohort, failed: true } : r,
    );
    return nextCohortPage({
      analyzedAt: request.analyzedAt,
      ...(request.page.cursor ? { cursor: request.page.cursor } : {}),
      more: request.page.more,
      ...(request.page.totals ? { totals: request.page.totals } : {}),
      results,
    });
  });
