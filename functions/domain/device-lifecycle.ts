/**
 * A device's identity lifecycle after registration: certificate rotation, quarantine and
 * retirement. Pure rules; the use cases (`use-cases/rotate-device-certificate.ts`,
 * `quarantine-device.ts`, `retire-device.ts`) apply them to the fleet table and AWS IoT.
 */
import type { Device } from './device';
import { DomainError } from './errors';

/**
 * How the API shows where a device stands: `active` (registered, gets rollouts), `quarantined`
 * (registered, but no rollouts and a restricted IoT policy until released), `retired` (its
 * certificates revoked; its history kept, its events dropped).
 */
export type LifecycleStatus = 'active' | 'quarantined' | 'retired';

export function lifecycleStatusOf(device: Pick<Device, 'status' | 'quarantine'>): LifecycleStatus {
  if (device.status === 'retired') return 'retired';
  return device.quarantine ? 'quarantined' : 'active';
}

/** Why and since when a device is quarantined, and who (an operator, or the anomaly rule) decided it. */
export interface Quarantine {
  readonly reason: string;
  readonly since: string;
  readonly by: string;
  readonly source: 'operator' | 'anomaly';
}

/** When and why a device was retired, and by whom. */
export interface Retirement {
  readonly reason: string;
  readonly at: string;
  readonly by: string;
}

/**
 * The device's latest certificate rotation, kept on its item:
 * - `issued`: a new certificate was signed from the device's CSR and attached; the old one still
 *   works, because the device has not yet shown that it can connect with the new one;
 * - `confirmed`: the device connected with the new certificate and said so; every other
 *   certificate of the thing was deactivated.
 * The certificate PEM is kept while `issued`, so that a repeated request (same id) gets the same
 * certificate again instead of a second one.
 */
export interface CertificateRotation {
  readonly requestId: string;
  readonly state: 'issued' | 'confirmed';
  readonly certificateId: string;
  readonly certificateArn: string;
  readonly certificatePem?: string;
  readonly notAfter: string;
  readonly previousCertificateId?: string;
  readonly requestedAt: string;
  readonly confirmedAt?: string;
  /** ISO times of the certificates issued for this device in the rate-limit window, oldest first. */
  readonly issuedAt: readonly string[];
}

/** How many certificates a device may be issued per window; a retry of the same request is free. */
export interface RotationRateLimit {
  readonly maxIssued: number;
  readonly windowSeconds: number;
}

/** Four a day: a device whose rotations keep failing part way cannot mint certificates in a loop. */
export const DEFAULT_ROTATION_RATE_LIMIT: RotationRateLimit = { maxIssued: 4, windowSeconds: 24 * 3600 };

/**
 * The issue times still inside the window, or, when the window is full, when the next issue is
 * allowed. `history` is what the item holds (oldest first).
 */
export function rotationAllowance(
  history: readonly string[],
  now: Date,
  limit: RotationRateLimit,
):
  | { readonly allowed: true; readonly recent: readonly string[] }
  | { readonly allowed: false; readonly retryAt: string } {
  const windowStart = now.getTime() - limit.windowSeconds * 1000;
  const recent = history.filter((at) => Date.parse(at) > windowStart);
  if (recent.length < limit.maxIssued) return { allowed: true, recent };
  const oldest = Date.parse(recent[recent.length - limit.maxIssued] ?? recent[0] ?? now.toISOString());
  return { allowed: false, retryAt: new Date(oldest + limit.windowSeconds * 1000).toISOString() };
}

/** The rollout's wave jobs (`ro-<12 hex>-w<n>`, domain/rollout.ts jobIdOf), as opposed to commands. */
const ROLLOUT_JOB_ID = /^ro-[0-9a-f]{12}-w\d{1,3}$/;

/** Whether `jobId` is a rollout's wave job: a quarantine cancels those executions and no others. */
export function isRolloutJobId(jobId: string): boolean {
  return ROLLOUT_JOB_ID.test(jobId);
}

/** An action on a retired device (quarantine, release, rotation). */
export class DeviceRetiredError extends DomainError {
  override readonly name = 'DeviceRetiredError';
  constructor(readonly deviceId: string) {
    super(`Device '${deviceId}' is retired`);
  }
}

/** Operator-supplied reason text: one line, bounded, so audit fields stay readable. */
export const REASON_MAX_LENGTH = 500;
