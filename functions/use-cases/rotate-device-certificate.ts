import type {
  CertificateRotationConfirmV1,
  CertificateRotationRequestV1,
  RotationReplyV1,
} from '../../contract/certificate-rotation';
import { rotationCsrProblem } from '../domain/csr-subject';
import {
  type CertificateRotation,
  DEFAULT_ROTATION_RATE_LIMIT,
  type RotationRateLimit,
  rotationAllowance,
} from '../domain/device-lifecycle';
import { ValidationError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { DeviceCertificates } from '../ports/device-certificates';
import type { DeviceLifecycleStore } from '../ports/device-lifecycle-store';
import type { RotationReplies } from '../ports/rotation-replies';

const SCHEMA = 'edgeops.certificate-rotation.reply.v1';

export interface RotationPorts {
  readonly store: DeviceLifecycleStore;
  readonly certificates: DeviceCertificates;
  readonly replies: RotationReplies;
  readonly clock: Clock;
  /** @default DEFAULT_ROTATION_RATE_LIMIT (4 per 24 h) */
  readonly rateLimit?: RotationRateLimit;
}

/** How many times a lost race on the device item is retried before giving up (SQS retries then). */
const MAX_RACES = 3;

/**
 * A device asks for a new certificate (`CertificateRotationRequestV1`), still connected with its
 * current one:
 * 1. a device that is not registered (retired, unknown) is refused: `device-not-active`;
 * 2. the same request id again: the certificate already issued for it is sent again, nothing new
 *    is made (the device lost the answer, or SQS delivered twice);
 * 3. a CSR whose subject is not exactly CN=<device id> or whose key is not EC P-256 is refused
 *    (`invalid-csr`, with the reason), as is a device that had `rateLimit.maxIssued` certificates
 *    issued within the window (`rate-limited`, with when to ask again);
 * 4. AWS IoT signs the CSR; the certificate gets the policy the device has now (the quarantine
 *    policy while quarantined) and is attached to the thing;
 * 5. the rotation is recorded on the device item as `issued`; a certificate issued for an earlier
 *    request the device has abandoned (it asked again with a new id, so it has no key for it) is
 *    deactivated;
 * 6. the certificate goes back on `rotate/accepted`.
 * The old certificate stays active: only the confirmation, sent over the new one, retires it.
 */
export const makeRequestCertificateRotation =
  (ports: RotationPorts) =>
  async (deviceId: string, request: CertificateRotationRequestV1): Promise<RotationReplyV1> => {
    const { store, certificates, replies, clock } = ports;
    const reply = async (answer: RotationReplyV1) => {
      await replies.send(deviceId, answer);
      return answer;
    };
    const reject = (
      code: Extract<RotationReplyV1, { verdict: 'rejected' }>['code'],
      message: string,
      retryAt?: string,
    ) =>
      reply({
        schema: SCHEMA,
        step: 'rotate',
        verdict: 'rejected',
        requestId: request.requestId,
        code,
        message,
        ...(retryAt ? { retryAt } : {}),
      });

    for (let race = 0; race < MAX_RACES; race++) {
      const device = await store.getDevice(deviceId);
      if (device?.status !== 'registered')
        return reject(
          'device-not-active',
          `device ${deviceId} is ${device ? device.status : 'not registered'}`,
        );
      const current = device.rotation;
      if (current?.requestId === request.requestId) {
        if (current.state === 'issued' && current.certificatePem !== undefined)
          return reply(accepted('rotate', current, current.certificatePem));
        return reject('unknown-request', `rotation ${request.requestId} is already ${current.state}`);
      }
      const problem = rotationCsrProblem(request.csr, deviceId);
      if (problem) return reject('invalid-csr', problem);
      const now = clock.now();
      const allowance = rotationAllowance(
        current?.issuedAt ?? [],
        now,
        ports.rateLimit ?? DEFAULT_ROTATION_RATE_LIMIT,
      );
      if (!allowance.allowed)
        return reject(
          'rate-limited',
          `too many certificates issued to ${deviceId} recently; ask again after ${allowance.retryAt}`,
          allowance.retryAt,
        );

      let issued: Awaited<ReturnType<DeviceCertificates['issue']>>;
      try {
        issued = await certificates.issue(deviceId, request.csr, device.quarantine ? 'quarantine' : 'device');
      } catch (error) {
        if (error instanceof ValidationError) return reject('invalid-csr', error.message);
        throw error;
      }
      const rotation: CertificateRotation = {
        requestId: request.requestId,
        state: 'issued',
        certificateId: issued.certificateId,
        certificateArn: issued.certificateArn,
        certificatePem: issued.certificatePem,
        notAfter: issued.notAfter,
        ...(device.certificateId ? { previousCertificateId: device.certificateId } : {}),
        requestedAt: now.toISOString(),
        issuedAt: [...allowance.recent, now.toISOString()],
      };
      if (!(await store.recordRotation(deviceId, rotation, current?.requestId))) {
        // Another request for this device won the item meanwhile: this certificate is nobody's.
        await certificates.deactivate(deviceId, issued);
        continue;
      }
      if (current?.state === 'issued' && current.certificateId !== device.certificateId)
        await certificates.deactivate(deviceId, current);
      return reply(accepted('rotate', rotation, issued.certificatePem));
    }
    throw new Error(`Rotation of ${deviceId}: the device item kept changing; retried ${MAX_RACES} times`);
  };

/**
 * The device says it connected with its new certificate (`CertificateRotationConfirmV1`):
 * 1. it must come over that very certificate (`principal`, the rule's `principal()`), and name the
 *    rotation the device item holds; else `wrong-certificate` / `unknown-request`;
 * 2. the item takes the new certificate as the device's own (`certificateId`, `certificateNotAfter`)
 *    and the rotation becomes `confirmed`; a repeated confirmation finds it so and goes on;
 * 3. every other certificate of the thing is deactivated and detached (the old one, and any left
 *    over by an issue that crashed before it was recorded);
 * 4. `confirm/accepted` tells the device it may drop its old key and certificate.
 */
export const makeConfirmCertificateRotation =
  (ports: Omit<RotationPorts, 'rateLimit'>) =>
  async (
    deviceId: string,
    confirm: CertificateRotationConfirmV1,
    principal: string | undefined,
  ): Promise<RotationReplyV1> => {
    const { store, certificates, replies, clock } = ports;
    const reply = async (answer: RotationReplyV1) => {
      await replies.send(deviceId, answer);
      return answer;
    };
    const reject = (code: 'unknown-request' | 'wrong-certificate' | 'device-not-active', message: string) =>
      reply({
        schema: SCHEMA,
        step: 'confirm',
        verdict: 'rejected',
        requestId: confirm.requestId,
        code,
        message,
      });

    const device = await store.getDevice(deviceId);
    if (device?.status !== 'registered')
      return reject(
        'device-not-active',
        `device ${deviceId} is ${device ? device.status : 'not registered'}`,
      );
    const rotation = device.rotation;
    if (rotation?.requestId !== confirm.requestId || rotation.certificateId !== confirm.certificateId)
      return reject(
        'unknown-request',
        `no rotation ${confirm.requestId} to certificate ${confirm.certificateId}`,
      );
    if (principal !== rotation.certificateId)
      return reject(
        'wrong-certificate',
        'confirm over a connection made with the new certificate: this one came over another',
      );
    if (rotation.state === 'issued')
      await store.confirmRotation(deviceId, rotation.requestId, clock.now().toISOString());
    for (const certificate of await certificates.listCertificates(deviceId)) {
      if (certificate.certificateId !== rotation.certificateId)
        await certificates.deactivate(deviceId, certificate);
    }
    return reply(accepted('confirm', rotation));
  };

function accepted(
  step: 'rotate' | 'confirm',
  rotation: CertificateRotation,
  certificatePem?: string,
): RotationReplyV1 {
  return {
    schema: SCHEMA,
    step,
    verdict: 'accepted',
    requestId: rotation.requestId,
    certificateId: rotation.certificateId,
    ...(certificatePem !== undefined ? { certificatePem } : {}),
    notAfter: rotation.notAfter,
  };
}
