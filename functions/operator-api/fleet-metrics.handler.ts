import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetHealthReader } from '../adapters/dynamodb-fleet-health-reader';
import { PROMETHEUS_CONTENT_TYPE } from '../domain/prometheus-exposition';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeExportFleetMetrics } from '../use-cases/export-fleet-metrics';
import { httpErrors, requireRole } from './http';
import { FleetMetricsQuery } from './schemas';

const exportFleetMetrics = makeExportFleetMetrics({
  health: new DynamoDbFleetHealthReader(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/**
 * `GET /fleet/metrics`: the cohort statistics in the Prometheus text format (0.0.4), for a
 * Prometheus scrape job that sends a Cognito ID token (docs/prometheus-grafana.md). Errors stay
 * JSON: Prometheus only reads the status of a failed scrape.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    parseInput(FleetMetricsQuery, event.queryStringParameters ?? {}, 'query');
    return {
      statusCode: 200,
      headers: { 'content-type': PROMETHEUS_CONTENT_TYPE, 'cache-control': 'no-store' },
      body: await exportFleetMetrics(),
    };
  });
