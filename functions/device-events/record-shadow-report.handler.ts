import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { dynamoDb } from '../shared/clients';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordDeviceReport } from '../use-cases/record-device-report';
import { parseDeviceEvent } from './parse-event';
import { ShadowReportEventV1 } from './schemas';

const recordDeviceReport = makeRecordDeviceReport({
  fleetStore: new DynamoDbFleetStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
});

/** Invoked by the shadow-report topic rule for every accepted update of a device's classic shadow. */
export const handler = middy<unknown, void>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    const report = parseDeviceEvent(ShadowReportEventV1, event, 'shadow report');
    if (!report) return;
    const firmwareVersion = report.state.reported.firmwareVersion;
    if (firmwareVersion === undefined) return;
    const outcome = await recordDeviceReport({
      deviceId: report.thingName,
      firmwareVersion,
      shadowVersion: report.version,
      reportedAt: new Date(report.timestamp * 1000),
    });
    logger.info('Shadow report', { deviceId: report.thingName, firmwareVersion, outcome });
  });
