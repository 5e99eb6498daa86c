import type { $ZodType } from 'zod/v4/core';
import { ValidationError } from '../domain/errors';
import { logger } from '../shared/observability';
import { parseInput } from '../shared/parse';

/**
 * Parses an event forwarded by a topic rule. A malformed one is logged with the reason and
 * dropped (retrying cannot fix it); the caller gets undefined and writes nothing.
 */
export function parseDeviceEvent<S extends $ZodType>(schema: S, event: unknown, what: string) {
  try {
    return parseInput(schema, event, what);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    logger.warn(`Rejected ${what}`, { reason: error.message, issues: error.issues });
    return undefined;
  }
}
