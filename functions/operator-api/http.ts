import type middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import {
  ArtifactNotFoundError,
  ArtifactNotUploadedError,
  DeviceAlreadyExistsError,
  DeviceBusyError,
  DeviceNotFoundError,
  DomainError,
  ForbiddenError,
  ReleaseAlreadyExistsError,
  ReleaseNotFoundError,
  RolloutNotFoundError,
  RolloutStateError,
  ValidationError,
} from '../domain/errors';
import { type OperatorRole, roleAllows, strongestRole } from '../domain/operator-role';
import { logger } from '../shared/observability';

export type ApiHandler = middy.MiddyfiedHandler<APIGatewayProxyEvent, APIGatewayProxyResult>;

export function json(statusCode: number, body: unknown): APIGatewayProxyResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/** The single place where domain errors become HTTP responses. Anything unknown is a bare 500. */
export function errorResponse(error: unknown): APIGatewayProxyResult {
  if (error instanceof ValidationError) return json(400, { message: error.message, errors: error.issues });
  if (error instanceof DeviceAlreadyExistsError) return json(409, { message: error.message });
  if (error instanceof DeviceNotFoundError) return json(404, { message: error.message });
  if (error instanceof ArtifactNotFoundError) return json(404, { message: error.message });
  if (error instanceof ArtifactNotUploadedError) return json(409, { message: error.message });
  if (error instanceof ReleaseNotFoundError) return json(404, { message: error.message });
  if (error instanceof ReleaseAlreadyExistsError) return json(409, { message: error.message });
  if (error instanceof ForbiddenError) return json(403, { message: error.message });
  if (error instanceof RolloutNotFoundError) return json(404, { message: error.message });
  if (error instanceof RolloutStateError || error instanceof DeviceBusyError)
    return json(409, { message: error.message });
  if (error instanceof DomainError) return json(422, { message: error.message });
  logger.error('Unhandled error', { error: error as Error });
  return json(500, { message: 'Internal server error' });
}

export const httpErrors = (): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  onError: (request) => {
    request.response = errorResponse(request.error);
  },
});

/**
 * Groups of the caller as API Gateway's Cognito authorizer passes them: REST APIs flatten the
 * `cognito:groups` array into a string (`"a,b"` or `"[a b]"`), so accept every form.
 */
export function callerGroups(event: APIGatewayProxyEvent): string[] {
  const claim: unknown = event.requestContext.authorizer?.claims?.['cognito:groups'];
  if (Array.isArray(claim)) return claim.map(String);
  if (typeof claim === 'string') return claim.split(/[\s,[\]]+/).filter(Boolean);
  return [];
}

/** Who is calling, for audit fields: the Cognito user name. */
export function callerName(event: APIGatewayProxyEvent): string {
  const claims = event.requestContext.authorizer?.claims as Record<string, unknown> | undefined;
  const name = claims?.['cognito:username'] ?? claims?.email ?? claims?.sub;
  return typeof name === 'string' ? name : 'unknown';
}

/** Lets the request through only when the caller's strongest role includes `required`. */
export const requireRole = (
  required: OperatorRole,
): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => ({
  before: (request) => {
    const held = strongestRole(callerGroups(request.event));
    if (!roleAllows(held, required)) {
      throw new ForbiddenError(`This action needs the '${required}' role; caller has '${held ?? 'none'}'`);
    }
  },
});
