/**
 * Zero-touch provisioning by claim: what a factory-fresh device and the control plane say to each
 * other. Both sides import it, so the parameter names the device sends are the ones the
 * provisioning template and the pre-provisioning hook read, and the first "hello" answer the
 * device parses is the one the backend writes.
 *
 * 1. The device, connected with the shared claim certificate, asks AWS IoT for a certificate for
 *    its own key (`$aws/certificates/create-from-csr/json`), then asks the provisioning template
 *    to register it (`$aws/provisioning-templates/<template>/provision/json`) with the
 *    `ClaimParameters` below. The pre-provisioning hook allows it only for a serial on the
 *    operator's allowlist that no other certificate has claimed.
 * 2. Connected with its own certificate (client id = thing name = serial), it publishes a
 *    `HelloRequestV1` to `helloTopics(serial).request`; the control plane writes its registry
 *    record (first time) and answers on `.accepted` with the trust root, or on `.rejected`.
 */
import { DEVICE_ID_PATTERN, LABEL_PATTERN } from './identifiers';
import * as z from './zod-mini';

/** The RegisterThing parameters a device sends: its serial, which becomes its thing name. */
export const CLAIM_PARAMETER = { serialNumber: 'SerialNumber' } as const;

/**
 * The template parameters the hook sets from the allowlist entry (parameterOverrides): the device
 * cannot choose its own site, region or hardware type.
 */
export const ALLOWLIST_PARAMETER = {
  site: 'Site',
  region: 'Region',
  hardwareType: 'HardwareType',
} as const;

/** Client ids a claim certificate may connect with: `claim-<random>` (its policy allows only these). */
export const CLAIM_CLIENT_ID_PREFIX = 'claim-';

/** The fleet provisioning MQTT API (JSON), as the AWS IoT developer guide names its topics. */
export function fleetProvisioningTopics(templateName: string) {
  const createFromCsr = '$aws/certificates/create-from-csr/json';
  const provision = `$aws/provisioning-templates/${templateName}/provision/json`;
  return {
    createFromCsr,
    createFromCsrAccepted: `${createFromCsr}/accepted`,
    createFromCsrRejected: `${createFromCsr}/rejected`,
    provision,
    provisionAccepted: `${provision}/accepted`,
    provisionRejected: `${provision}/rejected`,
  } as const;
}

/** The device's first request on its own identity, and the answers. */
export function helloTopics(deviceId: string) {
  const request = `edgeops/devices/${deviceId}/hello`;
  return { request, accepted: `${request}/accepted`, rejected: `${request}/rejected` } as const;
}

/** An allowlist entry as an operator uploads it: the serial and where the device belongs. */
export const AllowlistEntry = z.strictObject({
  serial: z
    .string({ error: 'serial is required' })
    .check(z.regex(DEVICE_ID_PATTERN, 'serial: 1-128 of letters, digits, _ and -')),
  site: z
    .string({ error: 'site is required' })
    .check(z.regex(LABEL_PATTERN, 'site: 1-64 of letters, digits and _ . @ / : # = -')),
  region: z
    .string({ error: 'region is required' })
    .check(z.regex(LABEL_PATTERN, 'region: 1-64 of letters, digits and _ . @ / : # = -')),
  hardwareType: z
    .string({ error: 'hardwareType is required' })
    .check(z.regex(LABEL_PATTERN, 'hardwareType: 1-64 of letters, digits and _ . @ / : # = -')),
});
export type AllowlistEntry = z.infer<typeof AllowlistEntry>;

export const HelloRequestV1 = z.strictObject({
  schemaVersion: z.literal(1),
  /** Echoed in the answer, so a device can tell it from an older one. */
  requestId: z.string().check(z.minLength(1), z.maxLength(64)),
});
export type HelloRequestV1 = z.infer<typeof HelloRequestV1>;

export const HelloAcceptedV1 = z.object({
  schemaVersion: z.literal(1),
  requestId: z.string(),
  deviceId: z.string(),
  site: z.string(),
  region: z.string(),
  hardwareType: z.string(),
  /** The newest TUF root (as `trustRoot` of `POST /devices`); absent before the root ceremony. */
  trustRoot: z.optional(z.unknown()),
  /**
   * Where its configuration is: the merged fleet > site > device layers, delivered into this
   * named shadow as for any device (contract/device-config.ts), before this answer is sent.
   */
  configuration: z.object({ shadowName: z.string(), delivery: z.string() }),
});
export type HelloAcceptedV1 = z.infer<typeof HelloAcceptedV1>;

export const HelloRejectedV1 = z.object({
  schemaVersion: z.literal(1),
  requestId: z.string(),
  reason: z.string(),
});
export type HelloRejectedV1 = z.infer<typeof HelloRejectedV1>;
