import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as z from '../../contract/zod-mini';
import { openApiDocument, openApiJson, operationId } from '../../functions/operator-api/openapi';
import { handler as openApiHandler } from '../../functions/operator-api/openapi.handler';
import { OPERATOR_ROUTES, type OperatorRoute } from '../../functions/operator-api/openapi-routes';
import { ListDevicesQuery, RegisterDeviceRequest } from '../../functions/operator-api/schemas';
import { OPENAPI_FILE } from '../../scripts/openapi';

type Operation = {
  security: unknown[];
  parameters?: { name: string; in: string; required: boolean; schema: Record<string, unknown> }[];
  requestBody?: { required: boolean; content: Record<string, { schema: Record<string, unknown> }> };
  responses: Record<string, { content?: Record<string, { schema: Record<string, unknown> }> }>;
  'x-edgeops-role': string;
};
const doc = openApiDocument();
const op = (method: string, path: string) =>
  (doc.paths[path] as Record<string, Operation> | undefined)?.[method] as Operation;

describe('docs/openapi.json', () => {
  it('is what `npm run openapi` generates from the route table (run it after changing a schema or route)', () => {
    const committed: unknown = JSON.parse(readFileSync(OPENAPI_FILE, 'utf8'));
    expect(committed).toEqual(JSON.parse(openApiJson()));
  });
});

describe('GET /openapi.json (openapi.handler.ts)', () => {
  it('answers with the committed document, as JSON', async () => {
    const response = await openApiHandler();
    expect(response.statusCode).toBe(200);
    expect(response.headers?.['content-type']).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual(JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')));
  });
});

describe('openApiDocument', () => {
  it('is OpenAPI 3.1 with one operation per route of the table', () => {
    expect(doc.openapi).toBe('3.1.0');
    const operations = Object.values(doc.paths).flatMap((item) => Object.keys(item));
    expect(operations).toHaveLength(OPERATOR_ROUTES.length);
  });

  it('takes request bodies from the handlers’ own schemas', () => {
    const body = op('post', '/devices').requestBody;
    expect(body?.required).toBe(true);
    expect(body?.content['application/json']?.schema).toMatchObject({
      required: ['deviceId', 'hardwareType', 'site', 'region'],
      additionalProperties: false,
    });
    const { $schema: _, ...expected } = z.toJSONSchema(RegisterDeviceRequest, {
      io: 'input',
      unrepresentable: 'any',
    });
    expect(body?.content['application/json']?.schema).toEqual(expected);
  });

  it('turns a path schema into required path parameters and a query schema into query parameters', () => {
    const pause = op('post', '/rollouts/{rolloutId}/pause');
    expect(pause.parameters).toEqual([
      {
        name: 'rolloutId',
        in: 'path',
        required: true,
        schema: {
          type: 'string',
          pattern: '^ro-[0-9a-f]{12}$',
        },
      },
    ]);
    const list = op('get', '/devices');
    const names = list.parameters?.map((p) => p.name);
    expect(names).toEqual(Object.keys(ListDevicesQuery.shape));
    expect(list.parameters?.find((p) => p.name === 'limit')).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 },
    });
  });

  it('marks an optional body as not required', () => {
    expect(op('post', '/artifacts/{artifactId}/complete').requestBody?.required).toBe(false);
  });

  it('references shared answer shapes from components instead of repeating them', () => {
    expect(op('get', '/devices/{deviceId}').responses['200']?.content?.['application/json']?.schema).toEqual({
      $ref: '#/components/schemas/Device',
    });
    expect(doc.components.schemas.Device).toMatchObject({ type: 'object' });
  });

  it('needs the Cognito token everywhere but on the document itself', () => {
    expect(op('get', '/openapi.json').security).toEqual([]);
    expect(op('post', '/rollouts').security).toEqual([{ cognito: [] }]);
    expect(doc.components.securitySchemes.cognito).toMatchObject({ in: 'header', name: 'Authorization' });
    expect(op('put', '/trust/root')['x-edgeops-role']).toBe('admin');
  });

  it('gives every protected operation 401, 403 and 500 with the error body', () => {
    const responses = op('post', '/rollouts/{rolloutId}/abort').responses;
    for (const status of ['401', '403', '500', '404', '409'])
      expect(responses[status]?.content?.['application/json']?.schema).toEqual({
        $ref: '#/components/schemas/Error',
      });
  });

  it('refuses a route listed twice', () => {
    const route = OPERATOR_ROUTES[0] as OperatorRoute;
    expect(() => openApiDocument([route, route])).toThrow(/twice/);
  });

  it('names operations after method and path', () => {
    expect(operationId({ method: 'POST', path: '/rollouts/{rolloutId}/pause' })).toBe(
      'postRolloutsRolloutIdPause',
    );
    expect(operationId({ method: 'GET', path: '/openapi.json' })).toBe('getOpenapiJson');
  });
});
