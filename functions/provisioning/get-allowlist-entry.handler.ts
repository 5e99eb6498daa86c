import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbProvisioningAllowlist } from '../adapters/dynamodb-provisioning-allowlist';
import { httpErrors, json, requireRole } from '../operator-api/http';
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';
import { AllowlistSerialPath } from './schemas';

const allowlist = new DynamoDbProvisioningAllowlist(dynamoDb, requireEnv('ALLOWLIST_TABLE_NAME'));

/**
 * `GET /provisioning/allowlist/{serial}`: the entry and whether a device has claimed it (with
 * which certificate, and when); 404 for a serial not on the list.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('viewer'))
  .handler(async (event) => {
    const { serial } = parseInput(AllowlistSerialPath, event.pathParameters ?? {}, 'path');
    const entry = await allowlist.getEntry(serial);
    if (!entry) return json(404, { message: `Serial '${serial}' is not on the provisioning allowlist` });
    return json(200, { ...entry, claimed: entry.claim !== undefined });
  });
