import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { DynamoDbCommandStore } from '../adapters/dynamodb-command-store';
import { IotCommandJobs } from '../adapters/iot-command-jobs';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { makeExpireDeviceCommand } from '../use-cases/expire-device-command';
import { CommandExpiryEvent } from './schemas';

const expireCommand = makeExpireDeviceCommand({
  commands: new DynamoDbCommandStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  jobs: new IotCommandJobs(iot, requireEnv('THING_ARN_PREFIX')),
  clock: systemClock,
});

/**
 * Invoked by a command's one-shot EventBridge Scheduler schedule at its expiry. A malformed input
 * is logged and dropped (a retry cannot fix it); an AWS error throws, and the scheduler retries.
 */
export const handler = middy<unknown, { outcome: string }>()
  .use(injectLambdaContext(logger))
  .handler(async (event) => {
    let input: { deviceId: string; commandId: string };
    try {
      input = parseInput(CommandExpiryEvent, event, 'expiry event');
    } catch (error) {
      logger.error('Malformed command expiry event', { reason: (error as Error).message });
      return { outcome: 'malformed' };
    }
    const outcome = await expireCommand(input.deviceId, input.commandId);
    logger.info('Command expiry', { ...input, outcome });
    return { outcome };
  });
