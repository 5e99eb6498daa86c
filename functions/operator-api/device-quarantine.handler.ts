import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { lifecyclePorts } from '../device-lifecycle/lifecycle-ports';
import { logger } from '../shared/observability';
import { parseInput, parseJsonBody } from '../shared/parse';
import { makeQuarantineDevice, makeReleaseDevice } from '../use-cases/quarantine-device';
import { deviceView } from './device-view';
import { callerName, httpErrors, json, requireRole } from './http';
import { LifecycleActionRequest } from './lifecycle-schemas';
import { DevicePath } from './schemas';

const ports = lifecyclePorts();
const quarantineDevice = makeQuarantineDevice(ports);
const releaseDevice = makeReleaseDevice(ports);

/**
 * `POST /devices/{deviceId}/quarantine` and `POST /devices/{deviceId}/release` (operator; body
 * `{ reason }`). Both need the same grants, so one function serves both; both are idempotent.
 */
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(httpErrors())
  .use(requireRole('operator'))
  .handler(async (event) => {
    const { deviceId } = parseInput(DevicePath, event.pathParameters ?? {}, 'path');
    const { reason } = parseJsonBody(LifecycleActionRequest, event.body, event.isBase64Encoded);
    const by = callerName(event);
    if (event.resource.endsWith('/release')) {
      const device = await releaseDevice({ deviceId });
      logger.info('Device released from quarantine', { deviceId, by, reason });
      return json(200, deviceView(device));
    }
    const { device, canceledJobs } = await quarantineDevice({ deviceId, reason, by, source: 'operator' });
    logger.info('Device quarantined', { deviceId, by, reason, canceledJobs });
    return json(200, { ...deviceView(device), canceledJobs });
  });
