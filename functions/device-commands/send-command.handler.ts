import { randomBytes } from 'node:crypto';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { scheduler } from '#clients/scheduler';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { DynamoDbFleetStore } from '../adapters/dynamodb-fleet-store';
import { IotCommandJobs } from '../adapters/iot-command-jobs';
import { SchedulerCommandExpiry } from '../adapters/scheduler-command-expiry';
import { callerName, httpErrors, json, requireRole } from '../operator-api/http';
import { DevicePath } from '../operator-api/schemas';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeSendDeviceCommand } from '../use-cases/send-device-command';
import { commandView, SendCommandBody } from './schemas';

const tableName = requireEnv('FLEET_TABLE_NAME');
const sendCommand = makeSendDeviceCommand({
  fleet: new DynamoDbFleetStore(dynamoDb, tableName),
  commands: new DynamoDbCommandStore(dynamoDb, tableName),
  jobs: new IotCommandJobs(iot, requireEnv('THING_ARN_PREFIX')),
  expiry: new SchedulerCommandExpiry(scheduler, {
    groupName: requireEnv('EXPIRY_SCHEDULE_GROUP'),
    targetArn: requireEnv('EXPIRY_FUNCTION_ARN'),
    roleArn: requireEnv('EXPIRY_SCHEDULER_ROLE_ARN'),
  }),
  clock: systemClock,
  randomHex: () => randomBytes(6).toString('hex'),
});

/**
 * `POST /devices/{deviceId}/commands` (operator): sends one command to one device as an AWS IoT
 * job. 400 names the bad field and writes nothing; 404 for an unknown device; 201 with the
 * command, QUEUED, and its audit.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const body = parseJsonBody(SendCommandBody, event.body, event.isBase64Encoded);
    const command = await sendCommand({
      deviceId,
      command: body.command,
      parameters: body.parameters ?? {},
      expiresInSeconds: body.expiresInSeconds,
      requestedBy: callerName(event),
      requestId: event.requestContext.requestId,
    });
    logger.info('Command sent', {
      deviceId,
      commandId: command.commandId,
      command: command.command,
      requestedBy: command.requestedBy,
      expiresAt: command.expiresAt,
    });
    return json(201, commandView(command));
  });
