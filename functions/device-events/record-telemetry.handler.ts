import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbTelemetryStore } from '../adapters/dynamodb-telemetry-store';
import { S3TelemetryHistory } from '../adapters/s3-telemetry-history';
import { systemClock } from '../ports/clock';
import { S3Api } from '../shared/aws-api/s3';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordTelemetry } from '../use-cases/record-telemetry';
import { makeTelemetryBatch } from './telemetry-batch';

const recordTelemetryBatches = makeTelemetryBatch({
  recordTelemetry: makeRecordTelemetry({
    store: new DynamoDbTelemetryStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
    history: new S3TelemetryHistory(new S3Api(), requireEnv('TELEMETRY_BUCKET_NAME')),
    clock: systemClock,
  }),
});

/** Takes batches of device telemetry from the telemetry rule's queue (lib/fleet-telemetry.ts). */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordTelemetryBatches(event, context));
