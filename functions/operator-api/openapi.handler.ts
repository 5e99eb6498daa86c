import type { APIGatewayProxyResult } from 'aws-lambda';
import document from '../../docs/openapi.json' with { type: 'json' };

const body = JSON.stringify(document);

/**
 * `GET /openapi.json` (no token): the document `npm run openapi` wrote, bundled at build time, so
 * this Lambda imports neither zod nor a schema and answers from memory.
 */
export const handler = async (): Promise<APIGatewayProxyResult> => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json', 'cache-control': 'public, max-age=300' },
  body,
});
