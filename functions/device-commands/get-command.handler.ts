import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { s3 } from '#clients/s3';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { IotCommandJobs } from '../adapters/iot-command-jobs';
import { S3LogUploads } from '../adapters/s3-log-uploads';
import { httpErrors, json, requireRole } from '../operator-api/http';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeGetDeviceCommand } from '../use-cases/get-device-command';
import { CommandPath, commandView } from './schemas';

const getCommand = makeGetDeviceCommand({
  commands: new DynamoDbCommandStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  jobs: new IotCommandJobs(iot, requireEnv('THING_ARN_PREFIX')),
  logs: new S3LogUploads(s3, requireEnv('LOGS_BUCKET_NAME')),
  clock: systemClock,
});

/**
 * `GET /devices/{deviceId}/commands/{commandId}` (viewer): the command with its status as AWS IoT
 * has it now, its result and audit, and for uploaded logs a download URL valid for 5 minutes.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { deviceId, commandId } = parseInput(CommandPath, event.pathParameters ?? {}, 'path');
    const { command, logDownload } = await getCommand(deviceId, commandId);
    return json(200, commandView(command, logDownload));
  });
