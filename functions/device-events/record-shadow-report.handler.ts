import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordDeviceReport } from '../use-cases/record-device-report';
import { makeShadowReportBatch } from './shadow-report-batch';

const recordShadowReports = makeShadowReportBatch({
  recordDeviceReport: makeRecordDeviceReport({
    fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  }),
});

/** Takes batches of accepted classic-shadow updates from the shadow-report rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordShadowReports(event, context));
