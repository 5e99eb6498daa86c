import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbTelemetryStore } from '../adapters/dynamodb-telemetry-store';
import { EventBridgeAlertNotifier } from '../adapters/eventbridge-alert-notifier';
import { systemClock } from '../ports/clock';
import { EventBridgeApi } from '../shared/aws-api/events';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordAlert } from '../use-cases/record-alert';
import { makeAlertBatch } from './alert-batch';

const recordAlerts = makeAlertBatch({
  recordAlert: makeRecordAlert({
    store: new DynamoDbTelemetryStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
    notifier: new EventBridgeAlertNotifier(new EventBridgeApi()),
    clock: systemClock,
  }),
});

/** Takes the alerts devices publish from the alert rule's queue, as soon as they come (lib/fleet-telemetry.ts). */
export const handler = middy<SQSEvent, SQSBatchResponse>()
  .use(injectLambdaContext(logger))
  .handler((event, context) => recordAlerts(event, context));
