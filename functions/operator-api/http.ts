import type middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbAuditTrail } from '../adapters/dynamodb-audit-trail';
import { AUDIT_TABLE_ENV, type AuditEntry, auditSubjects, isAudited, summarizeBody } from '../domain/audit';
import { DeviceRetiredError } from '../domain/device-lifecycle';
import {
  ArtifactNotFoundError,
  ArtifactNotUploadedError,
  CommandNotFoundError,
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
import { requireEnv } from '../shared/env';
import { logger } from '../shared/observability';
import { makeRecordAuditEntry, type RecordAuditEntry } from '../use-cases/record-audit-entry';

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
  if (error instanceof CommandNotFoundError) return json(404, { message: error.message });
  if (error instanceof ArtifactNotUploadedError) return json(409, { message: error.message });
  if (error instanceof ReleaseNotFoundError) return json(404, { message: error.message });
  if (error instanceof ReleaseAlreadyExistsError) return json(409, { message: error.message });
  if (error instanceof ForbiddenError) return json(403, { message: error.message });
  if (error instanceof RolloutNotFoundError) return json(404, { message: error.message });
  if (
    error instanceof RolloutStateError ||
    error instanceof DeviceBusyError ||
    error instanceof DeviceRetiredError
  )
    return json(409, { message: error.message });
  if (error instanceof DomainError) return json(422, { message: error.message });
  logger.error('Unhandled error', { error: error as Error });
  return json(500, { message: 'Internal server error' });
}

export { AUDIT_TABLE_ENV };

let defaultRecorder: RecordAuditEntry | undefined;
/**
 * The audit recorder of this Lambda container, made on its first state-changing request. A Lambda
 * deployed without the table fails that request before it does anything: a mutating route that
 * cannot be audited is a deployment bug, not something to run without.
 */
function auditRecorder(): RecordAuditEntry {
  defaultRecorder ??= makeRecordAuditEntry({
    trail: new DynamoDbAuditTrail(dynamoDb, requireEnv(AUDIT_TABLE_ENV)),
    reporter: { auditWriteFailed: reportAuditWriteFailure },
  });
  return defaultRecorder;
}

/**
 * A failed audit write, loud: an ERROR log line that carries the whole entry (so it can be put
 * back from the logs) and one `AuditWriteFailures` count in CloudWatch's embedded metric format,
 * which the stack's alarm watches. Written straight to stdout: EMF must be the whole log line.
 */
export function reportAuditWriteFailure(entry: AuditEntry, error: unknown): void {
  logger.error('Audit entry not written', { auditEntry: entry, error: error as Error });
  process.stdout.write(
    `${JSON.stringify({
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: 'EdgeOps',
            Dimensions: [['service']],
            Metrics: [{ Name: 'AuditWriteFailures', Unit: 'Count' }],
          },
        ],
      },
      service: 'edgeops',
      AuditWriteFailures: 1,
    })}\n`,
  );
}

/** The audit entry of a finished request: who, what, the outcome and API Gateway's request id. */
export function auditEntryOf(
  event: APIGatewayProxyEvent,
  response: APIGatewayProxyResult,
  at: Date,
): AuditEntry {
  const pathParameters = Object.fromEntries(
    Object.entries(event.pathParameters ?? {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );
  const body = summarizeBody(event.body, event.isBase64Encoded);
  let answer: unknown;
  try {
    answer = response.body ? JSON.parse(response.body) : undefined;
  } catch {}
  return {
    at: at.toISOString(),
    requestId: event.requestContext.requestId,
    actor: { username: callerName(event), sub: callerSub(event) },
    method: event.httpMethod,
    route: event.resource,
    pathParameters,
    body,
    status: response.statusCode,
    ...auditSubjects(pathParameters, body, answer),
  };
}

/**
 * The operator HTTP wrapper every handler registers first (before `requireRole`): domain errors
 * become HTTP answers in one place, and every request whose method changes state (all but GET) is
 * written to the audit trail with its outcome, refused ones included. Being here, a new mutating
 * route is audited without code of its own; OperatorApi.addRoute gives its Lambda the table.
 * @param options.audit the recorder (tests); @default the DynamoDB trail named by AUDIT_TABLE_NAME
 */
export const httpErrors = (
  options: { readonly audit?: () => RecordAuditEntry; readonly now?: () => Date } = {},
): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> => {
  const recorder = options.audit ?? auditRecorder;
  const now = options.now ?? (() => new Date());
  const audited = new WeakSet<object>();
  const record = async (event: APIGatewayProxyEvent, response: APIGatewayProxyResult | null | undefined) => {
    if (!audited.has(event) || !response) return;
    await recorder()(auditEntryOf(event, response, now()));
  };
  return {
    before: (request) => {
      if (!isAudited(request.event.httpMethod, request.event.resource)) return;
      recorder();
      audited.add(request.event);
    },
    after: async (request) => {
      await record(request.event, request.response);
    },
    onError: async (request) => {
      request.response = errorResponse(request.error);
      await record(request.event, request.response);
    },
  };
};

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

/** The caller's Cognito `sub`, the id that stays when a user name is reused. */
export function callerSub(event: APIGatewayProxyEvent): string | null {
  const sub = (event.requestContext.authorizer?.claims as Record<string, unknown> | undefined)?.sub;
  return typeof sub === 'string' ? sub : null;
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
