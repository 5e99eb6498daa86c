/**
 * Provisioning by claim, as pure rules: which RegisterThing requests the pre-provisioning hook
 * allows, and what it answers AWS IoT. No AWS imports; the use cases apply these with the ports.
 */
import { ALLOWLIST_PARAMETER, type AllowlistEntry, CLAIM_PARAMETER } from '../../contract/provisioning';
import { DEVICE_ID_PATTERN } from './device';

/**
 * Most entries one upload may carry. 500 entries are about 60 KB of JSON (API Gateway takes 10 MB)
 * and 500 conditional writes, which one Lambda makes in a few seconds with 25 in flight, well
 * within API Gateway's 29 s: 100k serials are 200 uploads.
 */
export const MAX_ALLOWLIST_BATCH = 500;

/** An allowlist entry as stored: the upload, and the claim once a certificate has won it. */
export interface AllowlistRecord extends AllowlistEntry {
  readonly uploadedAt: string;
  /** Set, once and for all, by the hook that allowed a certificate to register this serial. */
  readonly claim?: { readonly certificateId: string; readonly claimedAt: string };
}

/** What the allowlist answers to a claim of one serial by one certificate. */
export type ClaimOutcome =
  | { readonly kind: 'claimed'; readonly entry: AllowlistRecord }
  /** The same certificate again (a device retrying after a lost answer): allowed, nothing changes. */
  | { readonly kind: 'already-claimed-by-this-certificate'; readonly entry: AllowlistRecord }
  | { readonly kind: 'not-listed' }
  | { readonly kind: 'claimed-by-another-certificate' };

/** Why the hook refused; logged, because AWS IoT tells the device only "AccessDenied". */
export type RefusalReason = 'malformed-request' | 'not-on-allowlist' | 'serial-already-used';

/** The pre-provisioning hook's answer, in AWS IoT's format (payload version 2020-04-01). */
export interface HookAnswer {
  readonly allowProvisioning: boolean;
  readonly parameterOverrides?: Readonly<Record<string, string>>;
}

export interface ClaimDecision {
  readonly answer: HookAnswer;
  readonly serial?: string;
  readonly refusal?: { readonly reason: RefusalReason; readonly message: string };
}

/** The serial from the request's parameters, or why it cannot be used. */
export function claimedSerial(
  parameters: unknown,
): { readonly serial: string } | { readonly problem: string } {
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters))
    return { problem: 'parameters: must be an object' };
  const serial = (parameters as Record<string, unknown>)[CLAIM_PARAMETER.serialNumber];
  if (serial === undefined || serial === '')
    return { problem: `parameters.${CLAIM_PARAMETER.serialNumber}: is required` };
  if (typeof serial !== 'string' || !DEVICE_ID_PATTERN.test(serial))
    return {
      problem: `parameters.${CLAIM_PARAMETER.serialNumber}: must be 1-128 of letters, digits, _ and -`,
    };
  return { serial };
}

export const refuse = (reason: RefusalReason, message: string, serial?: string): ClaimDecision => ({
  answer: { allowProvisioning: false },
  ...(serial === undefined ? {} : { serial }),
  refusal: { reason, message },
});

/**
 * Allow, with the entry's site, region and hardware type as the template's parameters: whatever
 * the device sent for them is replaced, so a device cannot place itself.
 */
export const allow = (entry: AllowlistEntry): ClaimDecision => ({
  serial: entry.serial,
  answer: {
    allowProvisioning: true,
    parameterOverrides: {
      [CLAIM_PARAMETER.serialNumber]: entry.serial,
      [ALLOWLIST_PARAMETER.site]: entry.site,
      [ALLOWLIST_PARAMETER.region]: entry.region,
      [ALLOWLIST_PARAMETER.hardwareType]: entry.hardwareType,
    },
  },
});

/** Duplicate serials in one upload: the operator's file is wrong, so the whole batch is refused. */
export function duplicateSerials(entries: readonly AllowlistEntry[]): string[] {
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const { serial } of entries) {
    if (seen.has(serial)) duplicates.add(serial);
    seen.add(serial);
  }
  return [...duplicates];
}
