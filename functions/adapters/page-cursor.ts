import { ValidationError } from '../domain/errors';

/** A listing position (a DynamoDB `LastEvaluatedKey`, or an in-memory store's key) as the API hands it out: opaque base64url JSON. */
export const encodeCursor = (key: Record<string, unknown>) =>
  Buffer.from(JSON.stringify(key)).toString('base64url');

/**
 * Reads a cursor back. `isIssued` checks the key has the shape this listing hands out (its
 * key names, string values, the right partition), so a forged cursor cannot start a read
 * elsewhere; anything else is a ValidationError on `cursor`.
 */
export function decodeCursor<K extends Record<string, string>>(
  cursor: string,
  isIssued: (key: Record<string, unknown>) => boolean,
): K {
  try {
    const key: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      typeof key === 'object' &&
      key !== null &&
      !Array.isArray(key) &&
      isIssued(key as Record<string, unknown>)
    ) {
      return key as K;
    }
  } catch {}
  throw new ValidationError('Invalid cursor', [
    { field: 'cursor', message: 'not a cursor issued by this API' },
  ]);
}
