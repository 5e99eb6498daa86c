import * as z from '../../contract/zod-mini';
import { REASON_MAX_LENGTH } from '../domain/device-lifecycle';

/** Why an operator acts on a device: one line, kept on the device item for audit. */
const reason = z
  .string({ error: 'reason is required' })
  .check(
    z.minLength(1, 'reason: must not be empty'),
    z.maxLength(REASON_MAX_LENGTH, `reason: at most ${REASON_MAX_LENGTH} characters`),
    z.regex(/^[^\r\n]*$/, 'reason: one line'),
  );

/**
 * Body of `POST /devices/{deviceId}/retire`, `/quarantine` and `/release`. Strict: a misspelt
 * field is a 400, not ignored.
 */
export const LifecycleActionRequest = z.strictObject({ reason });
export type LifecycleActionRequest = z.infer<typeof LifecycleActionRequest>;
