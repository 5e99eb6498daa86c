import type { $ZodType, output } from 'zod/v4/core';
import { safeParse } from '../../contract/zod-mini';
import { ValidationError } from '../domain/errors';

/**
 * Parses outside input with a schema (zod/mini or classic zod). On failure it throws a
 * ValidationError whose issues name each offending field (`site`, `limit`, ...), so the caller
 * can say exactly what was wrong.
 */
export function parseInput<S extends $ZodType>(schema: S, input: unknown, what: string): output<S> {
  const result = safeParse(schema, input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({
    field: issue.path.length > 0 ? issue.path.join('.') : '(root)',
    message: issue.message,
  }));
  const summary = issues.map((i) => `${i.field}: ${i.message}`).join('; ');
  throw new ValidationError(`Invalid ${what}: ${summary}`, issues);
}

/** Parses a JSON request body; a body that is not JSON is a ValidationError, not a crash. */
export function parseJsonBody<S extends $ZodType>(schema: S, body: string | null, isBase64Encoded = false) {
  let json: unknown;
  try {
    const text = isBase64Encoded && body ? Buffer.from(body, 'base64').toString('utf8') : body;
    json = text ? JSON.parse(text) : undefined;
  } catch {
    throw new ValidationError('Invalid request body: not valid JSON', [
      { field: '(body)', message: 'not valid JSON' },
    ]);
  }
  return parseInput(schema, json, 'request body');
}
