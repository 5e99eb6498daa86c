import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lambda } from '#clients/lambda';
import * as z from '../../../contract/zod-mini';
import { LambdaTrustPublisher } from '../../adapters/lambda-trust-publisher';
import { ValidationError } from '../../domain/errors';
import { requireEnv } from '../../shared/env';
import { logger } from '../../shared/observability';
import { parseInput } from '../../shared/parse';
import { callerName, httpErrors, json, requireRole } from '../http';

const publisher = new LambdaTrustPublisher(lambda, requireEnv('TRUST_PUBLISHER_FUNCTION_NAME'));

const RootBody = z.strictObject({
  signed: z.record(z.string(), z.unknown()),
  signatures: z.array(z.strictObject({ keyid: z.string(), sig: z.string() })).check(z.minLength(1)),
});

/**
 * `GET /trust/online-keys`: the stack's online public keys, for the root ceremony.
 * `PUT /trust/root`: a new root the operators signed offline. The publisher checks it as a device
 * would (version, thresholds of old and new root keys, expiry, online keys held) and refuses
 * with 400 and the reason; nothing is stored then.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('admin'))
  .handler(async (event) => {
    if (event.httpMethod === 'GET') {
      const response = await publisher.request({ action: 'online-keys' });
      if (!response.ok) throw new Error(response.error);
      return json(200, { keys: response.result });
    }
    const root = parseInput(RootBody, parseJson(event.body), 'body');
    logger.info('Root upload', { actor: callerName(event), version: root.signed.version });
    const response = await publisher.request({ action: 'set-root', root });
    if (!response.ok) throw new ValidationError(response.error, [{ field: 'body', message: response.error }]);
    return json(200, response.result);
  });

function parseJson(body: string | null): unknown {
  try {
    return JSON.parse(body ?? '');
  } catch {
    throw new ValidationError('Body is not JSON', [{ field: 'body', message: 'not JSON' }]);
  }
}
