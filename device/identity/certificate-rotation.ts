/**
 * The device's own certificate rotation, before its certificate expires and without an operator
 * (contract/certificate-rotation.ts has the messages). The new key is born here and never leaves.
 *
 * On disk, under `<stateDir>/identity/`:
 * ```
 * rotation.json             which identity is active (a rotated one, or none: the factory's from
 *                           the config), the rotation in progress, and when to try again
 * <requestId>/private.key   a rotated identity's key (0600) ...
 * <requestId>/certificate.pem   ... and its certificate, once issued
 * ```
 * Steps, each resumable after a power cut at any point (the state file is written atomically,
 * the key is linked into place whole, the certificate is written atomically):
 * 0. Due: `renewBeforeDays` before notAfter, or `maxAgeDays` after notBefore, whichever is first.
 * 1. `requested`: a request id and a new EC P-256 key in its own directory;
 * 2. connected with the active identity: the CSR goes out on `certificate/rotate`; the answer is
 *    checked (the certificate must hold the new key) and the certificate written beside the key;
 * 3. `issued`: connected with the new identity, the confirmation goes out on
 *    `certificate/confirm`; the backend then deactivates the old certificate;
 * 4. on `confirm/accepted`: the new identity becomes active, and the old rotated files are removed.
 * `identityCandidates` lists what to connect with, newest complete first: a device that lost power
 * after step 2 tries the new identity, and if that is refused, the old one still works (the backend
 * keeps it active until step 3). A refusal (a bad CSR, the rate limit) drops the rotation's files
 * and waits before the next try; the old identity is never touched until the new one is confirmed.
 */
import { createPrivateKey, createPublicKey, randomUUID, X509Certificate } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CERTIFICATE_CONFIRM_TOPIC,
  CERTIFICATE_REPLIES_FILTER,
  CERTIFICATE_ROTATE_TOPIC,
  type CertificateRotationConfirmV1,
  type CertificateRotationRequestV1,
  certificateReplyTopic,
  RotationReplyV1,
} from '../../contract/certificate-rotation';
import * as z from '../../contract/zod-mini';
import type { MqttConnection } from '../cloud/mqtt-connection';
import type { DeviceIdentity } from '../cloud/mqtt-js-connection';
import { type DurabilityOptions, writeFileAtomic, writeJsonAtomic, writePoint } from '../storage/atomic-file';
import { type CsrOptions, createCertificateRequest, createDeviceKey } from './csr';

const RotationState = z.object({
  /** The directory (request id) of the active rotated identity; null: the factory identity. */
  active: z.nullable(z.string()),
  pending: z.optional(
    z.object({
      requestId: z.string(),
      state: z.enum(['requested', 'issued']),
      certificateId: z.optional(z.string()),
      startedAt: z.string(),
    }),
  ),
  /** No new rotation before this time (ISO): after a refusal, or the rate limit's retryAt. */
  notBefore: z.optional(z.string()),
});
type RotationState = z.infer<typeof RotationState>;

export interface CertificateRotationOptions {
  readonly deviceId: string;
  /** The agent's state dir; the rotation keeps its files under `identity/`. */
  readonly stateDir: string;
  /** The identity the config names (from the factory or registration). */
  readonly factory: Omit<DeviceIdentity, 'deviceId'>;
  /** Opens an MQTT session with the given identity (mqtt.js in the field, a fake in tests). */
  readonly connect: (identity: DeviceIdentity) => MqttConnection;
  /** Rotate this many days before the certificate's notAfter. @default 30 */
  readonly renewBeforeDays?: number;
  /**
   * Rotate a certificate once it is this many days old (since its notBefore), whatever its
   * notAfter: certificates AWS IoT signs are valid until 2049, so expiry alone would never rotate
   * them. @default 365
   */
  readonly maxAgeDays?: number;
  /** How long to wait for the backend's answer to one message. @default 30000 */
  readonly replyTimeoutMs?: number;
  /** After a refusal without a retry time, wait this long before trying again. @default 3600000 */
  readonly retryAfterRefusalMs?: number;
  readonly csr?: CsrOptions;
  /** fsync, and the simulations' power-cut hook at every write point. */
  readonly durability?: DurabilityOptions;
  /** @default Date.now */
  readonly now?: () => number;
  readonly log?: (message: string) => void;
  /** Simulations only: called after each step, to cut the power between steps. */
  readonly afterStep?: (step: RotationStep) => void;
}

export type RotationStep = 'key-made' | 'issued' | 'new-identity-connected' | 'confirmed' | 'promoted';

export type RotationOutcome =
  | { readonly outcome: 'not-due'; readonly dueAt: string }
  | { readonly outcome: 'rotated'; readonly certificateId: string; readonly notAfter: string }
  | { readonly outcome: 'refused'; readonly code: string; readonly message: string; readonly retryAt: string }
  | { readonly outcome: 'failed'; readonly message: string };

/** An identity to connect with, and where it comes from. */
export interface IdentityCandidate extends DeviceIdentity {
  readonly source: 'pending' | 'active' | 'factory';
  readonly notBefore: string;
  readonly notAfter: string;
}

export class RotationRefusedError extends Error {
  override readonly name = 'RotationRefusedError';
}

export class CertificateRotation {
  readonly #dir: string;
  readonly #stateFile: string;
  readonly #now: () => number;

  constructor(private readonly options: CertificateRotationOptions) {
    this.#dir = join(options.stateDir, 'identity');
    this.#stateFile = join(this.#dir, 'rotation.json');
    this.#now = options.now ?? Date.now;
  }

  /**
   * What to connect with, newest complete identity first: a pending rotation whose certificate
   * was written, then the active identity; the factory identity last unless it is the active one
   * (once a rotation is confirmed, its certificate no longer works). Incomplete or mismatched
   * files are skipped, never used.
   */
  async identityCandidates(): Promise<IdentityCandidate[]> {
    const state = await this.#state();
    const candidates: IdentityCandidate[] = [];
    if (state.pending) {
      const pending = await this.#readIdentity(state.pending.requestId);
      if (pending) candidates.push({ ...pending, source: 'pending' });
    }
    const active = state.active === null ? undefined : await this.#readIdentity(state.active);
    if (active) candidates.push({ ...active, source: 'active' });
    else candidates.push({ ...this.#factory(), source: state.active === null ? 'active' : 'factory' });
    return candidates;
  }

  /**
   * When the active certificate is due for rotation (ISO): `renewBeforeDays` before its notAfter
   * or `maxAgeDays` after its notBefore, whichever comes first, and not before a refusal's wait is
   * over; now while a rotation is under way.
   */
  async dueAt(): Promise<string> {
    const state = await this.#state();
    const now = this.#now();
    if (state.pending) return new Date(now).toISOString();
    const active = (await this.identityCandidates()).find((c) => c.source !== 'pending');
    const day = 86_400_000;
    const due = active
      ? Math.min(
          Date.parse(active.notAfter) - (this.options.renewBeforeDays ?? 30) * day,
          Date.parse(active.notBefore) + (this.options.maxAgeDays ?? 365) * day,
        )
      : now;
    const notBefore = state.notBefore ? Date.parse(state.notBefore) : 0;
    return new Date(Math.max(due, notBefore)).toISOString();
  }

  /**
   * Runs (or resumes) the rotation if it is due: see the steps in the module comment. The agent
   * must not hold an MQTT session meanwhile (one client id, one session).
   */
  async rotateIfDue(): Promise<RotationOutcome> {
    const dueAt = await this.dueAt();
    if (Date.parse(dueAt) > this.#now()) return { outcome: 'not-due', dueAt };
    try {
      return await this.#rotate();
    } catch (error) {
      if (error instanceof RotationRefusedError) throw error;
      return { outcome: 'failed', message: (error as Error).message };
    }
  }

  async #rotate(): Promise<RotationOutcome> {
    const { deviceId } = this.options;
    let state = await this.#state();
    // Step 1.
    if (!state.pending) {
      state = {
        ...state,
        pending: {
          requestId: randomUUID(),
          state: 'requested',
          startedAt: new Date(this.#now()).toISOString(),
        },
      };
      await this.#write(state);
    }
    const pending = state.pending as NonNullable<RotationState['pending']>;
    const dir = join(this.#dir, pending.requestId);
    const keyPath = join(dir, 'private.key');
    if (!(await exists(keyPath))) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      writePoint(keyPath, this.options.durability);
      await createDeviceKey(keyPath);
      this.options.afterStep?.('key-made');
    }
    // Step 2 (skipped when the certificate is already on disk: the power went after writing it).
    if (pending.state === 'requested' && !(await this.#readIdentity(pending.requestId))) {
      const csr = await createCertificateRequest(keyPath, deviceId, this.options.csr);
      const request: CertificateRotationRequestV1 = {
        schema: 'edgeops.certificate-rotation.request.v1',
        requestId: pending.requestId,
        csr,
      };
      const reply = await this.#exchange(
        await this.#activeIdentity(state),
        'rotate',
        CERTIFICATE_ROTATE_TOPIC(deviceId),
        request,
      );
      if (reply.verdict === 'rejected') return this.#refused(state, reply.code, reply.message, reply.retryAt);
      const certificatePem = reply.certificatePem ?? '';
      const keyPem = await readFile(keyPath, 'utf8');
      const problem = certificateProblem(certificatePem, keyPem);
      if (problem) return this.#refused(state, 'bad-certificate', problem);
      await writeFileAtomic(join(dir, 'certificate.pem'), certificatePem, this.options.durability);
      this.options.afterStep?.('issued');
    }
    const issued = await this.#readIdentity(pending.requestId);
    if (!issued)
      return { outcome: 'failed', message: 'the new certificate is missing or does not match its key' };
    if (pending.state !== 'issued') {
      state = { ...state, pending: { ...pending, state: 'issued', certificateId: issued.certificateId } };
      await this.#write(state);
    }
    // Step 3.
    const confirm: CertificateRotationConfirmV1 = {
      schema: 'edgeops.certificate-rotation.confirm.v1',
      requestId: pending.requestId,
      certificateId: issued.certificateId,
    };
    const reply = await this.#exchange(issued, 'confirm', CERTIFICATE_CONFIRM_TOPIC(deviceId), confirm);
    if (reply.verdict === 'rejected') return this.#refused(state, reply.code, reply.message, reply.retryAt);
    this.options.afterStep?.('confirmed');
    // Step 4.
    const previous = state.active;
    await this.#write({ active: pending.requestId });
    this.options.afterStep?.('promoted');
    if (previous !== null && previous !== pending.requestId)
      await rm(join(this.#dir, previous), { recursive: true, force: true });
    await this.#removeStrays(pending.requestId);
    this.options.log?.(`certificate rotated: now ${issued.certificateId}, valid until ${issued.notAfter}`);
    return { outcome: 'rotated', certificateId: issued.certificateId, notAfter: issued.notAfter };
  }

  /** Drops the refused rotation's files (the old identity stays) and waits before the next try. */
  async #refused(
    state: RotationState,
    code: string,
    message: string,
    retryAt?: string,
  ): Promise<RotationOutcome> {
    const at =
      retryAt ?? new Date(this.#now() + (this.options.retryAfterRefusalMs ?? 3_600_000)).toISOString();
    await this.#write({ active: state.active, notBefore: at });
    if (state.pending) await rm(join(this.#dir, state.pending.requestId), { recursive: true, force: true });
    this.options.log?.(`certificate rotation refused (${code}): ${message}; trying again after ${at}`);
    return { outcome: 'refused', code, message, retryAt: at };
  }

  /** One request and its answer over a session of its own with `identity`. */
  async #exchange(
    identity: DeviceIdentity,
    step: 'rotate' | 'confirm',
    topic: string,
    message: CertificateRotationRequestV1 | CertificateRotationConfirmV1,
  ): Promise<RotationReplyV1> {
    const { deviceId } = this.options;
    const connection = this.options.connect(identity);
    try {
      await connection.connected();
      if (step === 'confirm') this.options.afterStep?.('new-identity-connected');
      const answer = new Promise<RotationReplyV1>((resolve) => {
        connection.onMessage((replyTopic, payload) => {
          if (
            replyTopic !== certificateReplyTopic(deviceId, step, 'accepted') &&
            replyTopic !== certificateReplyTopic(deviceId, step, 'rejected')
          )
            return;
          let parsed: RotationReplyV1;
          try {
            parsed = z.parse(RotationReplyV1, JSON.parse(payload.toString('utf8')));
          } catch {
            return;
          }
          if (parsed.requestId === undefined || parsed.requestId === message.requestId) resolve(parsed);
        });
      });
      await connection.subscribe([CERTIFICATE_REPLIES_FILTER(deviceId)], 1);
      await connection.publish(topic, JSON.stringify(message), 1);
      const timeoutMs = this.options.replyTimeoutMs ?? 30_000;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer to ${step} within ${timeoutMs} ms`)), timeoutMs);
      });
      return await Promise.race([answer, timeout]).finally(() => clearTimeout(timer));
    } finally {
      await connection.end().catch(() => {});
    }
  }

  #factory(): DeviceIdentity & { notBefore: string; notAfter: string } {
    const { certificatePem, privateKey } = this.options.factory;
    const certificate = new X509Certificate(certificatePem);
    return {
      deviceId: this.options.deviceId,
      certificatePem,
      privateKey,
      notBefore: new Date(certificate.validFrom).toISOString(),
      notAfter: new Date(certificate.validTo).toISOString(),
    };
  }

  /** The identity rotation requests go out with: the active rotated one, else the factory's. */
  async #activeIdentity(state: RotationState): Promise<DeviceIdentity> {
    return (state.active === null ? undefined : await this.#readIdentity(state.active)) ?? this.#factory();
  }

  /** A rotated identity whose key and certificate are both there and belong together; else undefined. */
  async #readIdentity(requestId: string) {
    const dir = join(this.#dir, requestId);
    let keyPem: string;
    let certificatePem: string;
    try {
      [keyPem, certificatePem] = await Promise.all([
        readFile(join(dir, 'private.key'), 'utf8'),
        readFile(join(dir, 'certificate.pem'), 'utf8'),
      ]);
    } catch {
      return undefined;
    }
    if (certificateProblem(certificatePem, keyPem) !== undefined) return undefined;
    const certificate = new X509Certificate(certificatePem);
    return {
      deviceId: this.options.deviceId,
      certificatePem,
      privateKey: keyPem,
      certificateId: certificateIdOf(certificate),
      notBefore: new Date(certificate.validFrom).toISOString(),
      notAfter: new Date(certificate.validTo).toISOString(),
    };
  }

  /** Directories of rotations that are neither active nor pending (left by a power cut). */
  async #removeStrays(keep: string): Promise<void> {
    for (const entry of await readdir(this.#dir, { withFileTypes: true }))
      if (entry.isDirectory() && entry.name !== keep)
        await rm(join(this.#dir, entry.name), { recursive: true, force: true });
  }

  async #state(): Promise<RotationState> {
    let text: string;
    try {
      text = await readFile(this.#stateFile, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { active: null };
      throw error;
    }
    const parsed = z.safeParse(RotationState, safeJson(text));
    if (!parsed.success) throw new Error(`Corrupt state file ${this.#stateFile}: ${parsed.error.message}`);
    return parsed.data;
  }

  async #write(state: RotationState): Promise<void> {
    await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(this.#stateFile, state, this.options.durability);
  }
}

/** AWS IoT's certificate id: the SHA-256 of the certificate's DER, in hex. */
export function certificateIdOf(certificate: X509Certificate): string {
  return certificate.fingerprint256.replaceAll(':', '').toLowerCase();
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Why a certificate does not hold this key, or undefined. The key is what binds it to the device;
 * its subject is the CA's business (the backend checked the CSR's).
 */
function certificateProblem(certificatePem: string, keyPem: string): string | undefined {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    return 'not an X.509 certificate';
  }
  const spki = (key: ReturnType<typeof createPublicKey>) =>
    key.export({ type: 'spki', format: 'der' }).toString('hex');
  let keyMatches = false;
  try {
    keyMatches = spki(certificate.publicKey) === spki(createPublicKey(createPrivateKey(keyPem)));
  } catch {
    return 'the key does not parse';
  }
  return keyMatches ? undefined : 'the certificate is not for the new key';
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
