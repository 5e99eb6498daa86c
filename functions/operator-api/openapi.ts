/**
 * The operator API's OpenAPI 3.1 document, generated from the route table (openapi-routes.ts) with
 * zod's own JSON Schema output (`toJSONSchema`, draft 2020-12, which OpenAPI 3.1 uses): requests
 * as the handlers accept them (`io: 'input'`: before defaults and transforms), answers as the
 * views produce them (`io: 'output'`). `npm run openapi` writes it to docs/openapi.json, which
 * `GET /openapi.json` serves.
 */
import * as z from '../../contract/zod-mini';
import { ArtifactView } from './artifact-view';
import { AuditEntryView } from './audit-schemas';
import { AlertView, AnomalyView, DeviceView, TelemetryWindowView } from './device-view';
import { ErrorBody, OPERATOR_ROUTES, type OperatorRoute, type Schema } from './openapi-routes';
import { ReleaseView } from './release-view';
import { RolloutView } from './rollouts/rollout-view';

type JsonSchema = Record<string, unknown>;

/** What every error answer means; the body is always ErrorBody. */
const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: 'Bad input: `errors` names each offending field; nothing was written',
  401: 'No token, or not a valid Cognito ID token of this pool',
  403: "The caller's role does not allow this",
  404: 'Not found',
  409: 'Conflicts with the current state (exists already, or not in a state that allows this)',
  422: 'Well-formed but refused by a domain rule',
  500: 'Internal error (nothing about it is shown)',
};

export const SECURITY_SCHEME = 'cognito';

/** Answer shapes many operations share: `components.schemas`, referenced with `$ref`. */
const COMPONENTS: Readonly<Record<string, Schema>> = {
  Error: ErrorBody,
  Device: DeviceView,
  Anomaly: AnomalyView,
  TelemetryWindow: TelemetryWindowView,
  Alert: AlertView,
  Artifact: ArtifactView,
  Release: ReleaseView,
  Rollout: RolloutView,
  AuditEntry: AuditEntryView,
};
const componentRef = (id: string) => `#/components/schemas/${id}`;

/**
 * Answer schemas (`io: 'output'`), converted together with the shared components so that each
 * names them by `$ref` instead of repeating them. Returns the components and one schema per key.
 */
function outputSchemas(answers: ReadonlyMap<string, Schema>) {
  const registry = z.registry<{ id: string }>();
  const componentIds = new Map<Schema, string>();
  for (const [id, schema] of Object.entries(COMPONENTS)) {
    registry.add(schema, { id });
    componentIds.set(schema, id);
  }
  for (const [key, schema] of answers) if (!componentIds.has(schema)) registry.add(schema, { id: key });
  const { schemas } = z.toJSONSchema(registry, {
    io: 'output',
    target: 'draft-2020-12',
    unrepresentable: 'any',
    uri: componentRef,
  }) as { schemas: Record<string, JsonSchema> };
  const clean = ({ $schema: _, $id: __, ...rest }: JsonSchema) => rest;
  const components = Object.fromEntries(Object.keys(COMPONENTS).map((id) => [id, clean(schemas[id] ?? {})]));
  const byKey = new Map<string, JsonSchema>();
  for (const [key, schema] of answers) {
    const component = componentIds.get(schema);
    byKey.set(key, component ? { $ref: componentRef(component) } : clean(schemas[key] ?? {}));
  }
  return { components, byKey };
}

function jsonSchema(schema: Schema, io: 'input' | 'output'): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    // Refinements, custom checks and transforms have no JSON Schema form: the handler still
    // applies them (400 naming the field); the document shows the type underneath.
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

const isOptional = (schema: Schema) => (schema._zod.def as { type?: string }).type === 'optional';

function parameters(schema: Schema | undefined, where: 'path' | 'query') {
  if (!schema) return [];
  const object = jsonSchema(schema, 'input');
  const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(typeof description === 'string' ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function operation(route: OperatorRoute, answers: ReadonlyMap<string, JsonSchema>) {
  const errors = new Set(route.errors ?? []);
  if (route.role !== 'public') for (const status of [401, 403, 500]) errors.add(status);
  else errors.add(500);
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(route.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.schema
        ? {
            content: {
              [response.contentType ?? 'application/json']: { schema: answers.get(answerKey(route, status)) },
            },
          }
        : {}),
    };
  }
  for (const status of [...errors].sort()) {
    responses[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  const params = [...parameters(route.pathParams, 'path'), ...parameters(route.query, 'query')];
  return {
    operationId: operationId(route),
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [...route.tags],
    'x-edgeops-role': route.role,
    security: route.role === 'public' ? [] : [{ [SECURITY_SCHEME]: [] }],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: !isOptional(route.body),
            content: { 'application/json': { schema: jsonSchema(route.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

const answerKey = (route: OperatorRoute, status: string) => `${operationId(route)}${status}`;

/** `POST /rollouts/{rolloutId}/pause` → `postRolloutsRolloutIdPause`: stable, for code generators. */
export function operationId(route: Pick<OperatorRoute, 'method' | 'path'>): string {
  const words = route.path
    .split(/[/{}.-]+/)
    .filter(Boolean)
    .map((word) => `${word[0]?.toUpperCase()}${word.slice(1)}`);
  return `${route.method.toLowerCase()}${words.join('')}`;
}

/** The whole document, for the given routes (the table by default). Deterministic: same input, same JSON. */
export function openApiDocument(routes: readonly OperatorRoute[] = OPERATOR_ROUTES) {
  const answers = new Map<string, Schema>();
  for (const route of routes)
    for (const [status, response] of Object.entries(route.responses))
      if (response.schema) answers.set(answerKey(route, status), response.schema);
  const { components, byKey } = outputSchemas(answers);
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of [...routes].sort((a, b) => a.path.localeCompare(b.path))) {
    const item = paths[route.path] ?? {};
    paths[route.path] = item;
    const method = route.method.toLowerCase();
    if (item[method]) throw new Error(`${route.method} ${route.path} is in the route table twice`);
    item[method] = operation(route, byKey);
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'EdgeOps operator API',
      version: '1',
      description:
        'The operator API of EdgeOps. Every operation but this document needs a Cognito ID token of the stack’s user pool in the Authorization header; `x-edgeops-role` names the least role (viewer < operator < admin) it needs. Every operation that is not a GET is written to the audit trail (GET /audit).',
    },
    // The API's base URL: `<stage URL>` in AWS (stack output ApiUrl). Relative, so the document
    // served at `<base>/openapi.json` names its own API.
    servers: [{ url: '.' }],
    tags: [...new Set(routes.flatMap((r) => r.tags))].sort().map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description:
            'A Cognito user-pool ID token (API Gateway Cognito authorizer); a "Bearer " prefix is not needed.',
          'x-amazon-apigateway-authtype': 'cognito_user_pools',
        },
      },
      schemas: components,
    },
  };
}

/** The document as docs/openapi.json holds it. */
export const openApiJson = () => `${JSON.stringify(openApiDocument(), null, 2)}\n`;
