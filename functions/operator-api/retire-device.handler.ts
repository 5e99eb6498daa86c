import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lifecyclePorts } from '../device-lifecycle/lifecycle-ports';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeRetireDevice } from '../use-cases/retire-device';
import { deviceView } from './device-view';
import { callerName, httpErrors, json, requireRole } from './http';
import { LifecycleActionRequest } from './lifecycle-schemas';
import { DevicePath } from './schemas';

const retireDevice = makeRetireDevice(lifecyclePorts());

/**
 * `POST /devices/{deviceId}/retire` (admin; body `{ reason }`): revokes the device's certificates,
 * takes it out of its groups and jobs, and keeps its history. Idempotent: 200 again.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('admin'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const { reason } = parseJsonBody(LifecycleActionRequest, event.body, event.isBase64Encoded);
    const by = callerName(event);
    const result = await retireDevice({ deviceId, reason, by });
    logger.info('Device retired', {
      deviceId,
      by,
      revokedCertificates: result.revokedCertificates,
      leftThingGroups: result.leftThingGroups,
      canceledJobs: result.canceledJobs,
    });
    return json(200, {
      ...deviceView(result.device),
      revokedCertificates: result.revokedCertificates,
      leftThingGroups: result.leftThingGroups,
      canceledJobs: result.canceledJobs,
    });
  });
