import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbProvisioningAllowlist } from '../adapters/dynamodb-provisioning-allowlist';
import { httpErrors, json, requireRole } from '../operator-api/http';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseJsonBody } from '../shared/parse';
import { makeUploadAllowlist } from '../use-cases/provisioning/upload-allowlist';
import { PutAllowlistRequest } from './schemas';

const uploadAllowlist = makeUploadAllowlist({
  allowlist: new DynamoDbProvisioningAllowlist(dynamoDb, requireEnv('ALLOWLIST_TABLE_NAME')),
  clock: systemClock,
});

/**
 * `PUT /provisioning/allowlist` (body `{entries: [{serial, site, region, hardwareType}]}`, at most
 * 500): adds or replaces unclaimed entries; claimed ones stay as they are and are listed in the
 * answer. Upload a large list as several batches; repeating a batch is harmless.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { entries } = parseJsonBody(PutAllowlistRequest, event.body, event.isBase64Encoded);
    const result = await uploadAllowlist(entries);
    logger.info('Allowlist batch uploaded', {
      stored: result.stored.length,
      alreadyClaimed: result.alreadyClaimed.length,
    });
    return json(200, { stored: result.stored.length, alreadyClaimed: result.alreadyClaimed });
  });
