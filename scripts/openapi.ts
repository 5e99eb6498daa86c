/**
 * `npm run openapi`: writes the operator API's OpenAPI document (functions/operator-api/openapi.ts)
 * to docs/openapi.json, which the `GET /openapi.json` Lambda bundles. test/unit/openapi.test.ts
 * fails while the committed file differs from what this writes.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openApiJson } from '../functions/operator-api/openapi';

export const OPENAPI_FILE = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(OPENAPI_FILE, openApiJson());
  console.log(`Wrote ${OPENAPI_FILE}`);
}
