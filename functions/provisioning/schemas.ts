import { AllowlistEntry } from '../../contract/provisioning';
import * as z from '../../contract/zod-mini';
import { DEVICE_ID_PATTERN } from '../domain/device';
import { MAX_ALLOWLIST_BATCH } from '../domain/provisioning-claim';

/** Body of `PUT /provisioning/allowlist`: one batch of at most MAX_ALLOWLIST_BATCH entries. */
export const PutAllowlistRequest = z.strictObject({
  entries: z
    .array(AllowlistEntry, { error: 'entries must be an array of {serial, site, region, hardwareType}' })
    .check(
      z.minLength(1, 'entries: must have at least 1 entry'),
      z.maxLength(
        MAX_ALLOWLIST_BATCH,
        `entries: at most ${MAX_ALLOWLIST_BATCH} per upload; upload in batches`,
      ),
    ),
});

/** Path of `GET /provisioning/allowlist/{serial}`. */
export const AllowlistSerialPath = z.object({
  serial: z.string().check(z.regex(DEVICE_ID_PATTERN, 'serial: 1-128 of letters, digits, _ and -')),
});

/**
 * What the pre-provisioning hook reads of AWS IoT's event (payload version 2020-04-01). The
 * parameters are checked by the use case, so that a malformed one is refused with its reason.
 */
export const PreProvisioningHookEvent = z.object({
  certificateId: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'certificateId: 64 hex digits')),
  parameters: z.optional(z.unknown()),
  clientId: z.optional(z.string()),
  claimCertificateId: z.optional(z.string()),
});

/** What the hello rule forwards: the device's message, its topic's device id, its certificate. */
export const HelloRuleMessage = z.object({
  deviceId: z.string().check(z.regex(DEVICE_ID_PATTERN, 'deviceId: 1-128 of letters, digits, _ and -')),
  certificateId: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'certificateId: 64 hex digits')),
  schemaVersion: z.literal(1),
  requestId: z.string().check(z.minLength(1), z.maxLength(64)),
});
