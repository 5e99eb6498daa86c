import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { ConfigReportV1 } from '../../contract/device-config';
import * as z from '../../contract/zod-mini';
import { DynamoDbDeviceConfigStore } from '../adapters/dynamodb-device-config-store';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordConfigReport } from '../use-cases/record-config-report';
import { makeDeviceEventBatch } from './device-event-batch';

const recordReport = makeRecordConfigReport({
  store: new DynamoDbDeviceConfigStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** The report as the rule forwards it: the device's message plus the thing name from its topic. */
const ForwardedConfigReport = z.extend(ConfigReportV1, {
  thingName: z.string().check(z.minLength(1), z.maxLength(128)),
});

const recordReports = makeDeviceEventBatch(
  'config report',
  ForwardedConfigReport,
  async ({ thingName, ...report }) => {
    if (!(await recordReport(thingName, report)))
      logger.info('Ignored a stale or unknown config report', { thingName, seq: report.seq });
  },
);

/** Takes batches of devices' applied-configuration reports from the config-report rule's queue. */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordReports(event, context));
