/**
 * Certificate rotation over MQTT, without an operator: the messages both sides share.
 *
 * 1. The device makes a new key and CSR and publishes `CertificateRotationRequestV1` on
 *    `edgeops/devices/<id>/certificate/rotate`, still connected with its current certificate.
 * 2. The backend answers on `.../certificate/rotate/accepted` (the new certificate, already
 *    active and attached) or `.../rotate/rejected` (a reason; nothing was issued).
 * 3. The device stores the new key and certificate beside the old ones, reconnects with the new
 *    certificate and publishes `CertificateRotationConfirmV1` on `.../certificate/confirm`.
 * 4. The backend checks that the confirmation came over the new certificate, makes it the
 *    device's own, deactivates every other certificate of the thing, and answers on
 *    `.../certificate/confirm/accepted` (or `/rejected`). Only then does the device drop the old
 *    files.
 * Every step is idempotent per `requestId`: a device that lost power repeats the step it was on.
 */
import * as z from './zod-mini';

export const CERTIFICATE_ROTATE_TOPIC = (thingName: string) =>
  `edgeops/devices/${thingName}/certificate/rotate`;
export const CERTIFICATE_CONFIRM_TOPIC = (thingName: string) =>
  `edgeops/devices/${thingName}/certificate/confirm`;
/** Every answer to this device's rotation messages (and none of its own requests). */
export const CERTIFICATE_REPLIES_FILTER = (thingName: string) =>
  `edgeops/devices/${thingName}/certificate/+/+`;
export const certificateReplyTopic = (
  thingName: string,
  step: 'rotate' | 'confirm',
  verdict: 'accepted' | 'rejected',
) => `edgeops/devices/${thingName}/certificate/${step}/${verdict}`;

/** A request id: the device's own, one per rotation (a UUID in the reference agent). */
const RequestId = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{8,64}$/, 'requestId: 8-64 of letters, digits, _ and -'));

export const CertificateRotationRequestV1 = z.strictObject({
  schema: z.literal('edgeops.certificate-rotation.request.v1'),
  requestId: RequestId,
  /** PEM PKCS#10, subject CN=<device id>, EC P-256 key. */
  csr: z.string().check(z.maxLength(4096)),
});
export type CertificateRotationRequestV1 = z.infer<typeof CertificateRotationRequestV1>;

export const CertificateRotationConfirmV1 = z.strictObject({
  schema: z.literal('edgeops.certificate-rotation.confirm.v1'),
  requestId: RequestId,
  certificateId: z.string().check(z.regex(/^[0-9a-f]{64}$/, 'certificateId: 64 hex digits')),
});
export type CertificateRotationConfirmV1 = z.infer<typeof CertificateRotationConfirmV1>;

/** Why a request or confirmation was refused; `invalid-csr` and `rate-limited` say what to change. */
export const ROTATION_REJECTIONS = [
  'invalid-request',
  'invalid-csr',
  'rate-limited',
  'device-not-active',
  'unknown-request',
  'wrong-certificate',
] as const;
export type RotationRejection = (typeof ROTATION_REJECTIONS)[number];

export const RotationReplyV1 = z.discriminatedUnion('verdict', [
  z.strictObject({
    schema: z.literal('edgeops.certificate-rotation.reply.v1'),
    step: z.enum(['rotate', 'confirm']),
    verdict: z.literal('accepted'),
    requestId: RequestId,
    certificateId: z.string(),
    /** The new certificate, on `rotate/accepted` only. */
    certificatePem: z.optional(z.string()),
    notAfter: z.string(),
  }),
  z.strictObject({
    schema: z.literal('edgeops.certificate-rotation.reply.v1'),
    step: z.enum(['rotate', 'confirm']),
    verdict: z.literal('rejected'),
    /** Absent when the message was too malformed to carry one. */
    requestId: z.optional(z.string()),
    code: z.enum(ROTATION_REJECTIONS),
    message: z.string(),
    /** With `rate-limited`: when to ask again (ISO). */
    retryAt: z.optional(z.string()),
  }),
]);
export type RotationReplyV1 = z.infer<typeof RotationReplyV1>;
