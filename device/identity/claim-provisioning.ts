/**
 * Zero-touch provisioning by claim, on the device: a device that leaves the factory with the shared
 * claim certificate and no identity of its own gets one on first boot, with its private key born
 * here (AWS IoT fleet provisioning by claim, contract/provisioning.ts).
 *
 * 1. Make an EC P-256 key (csr.ts) and a CSR for it, or reuse the pending key of an earlier try.
 * 2. Connected with the claim certificate (client id `claim-<random>`), ask for a certificate:
 *    `$aws/certificates/create-from-csr/json`. Keep the answer (certificate and ownership token)
 *    in a pending file before going on.
 * 3. Ask the provisioning template to register the thing: RegisterThing with the token and the
 *    serial. AWS IoT runs the pre-provisioning hook (the allowlist), creates the thing, activates
 *    the certificate and attaches the device policy.
 * 4. Commit: write the key, then the certificate (the commit point: the identity exists once the
 *    certificate file does), each atomically; then drop the pending files.
 * 5. Disconnect, connect with the new identity (client id = thing name) and say hello: the answer
 *    carries the trust root (written to its file) and the configuration.
 *
 * A power cut anywhere leaves either no identity (the next boot resumes from the pending files, or
 * starts over) or a whole one, never a certificate without its key. RegisterThing with the same
 * certificate again is allowed (the hook lets the certificate that claimed a serial claim it
 * again), so a device whose answer was lost retries safely. A refusal is reported as
 * `ClaimRefusedError` with AWS IoT's code and message; `provisionByClaimWithRetry` retries it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import {
  CLAIM_CLIENT_ID_PREFIX,
  CLAIM_PARAMETER,
  fleetProvisioningTopics,
  HelloAcceptedV1,
  HelloRejectedV1,
  helloTopics,
} from '../../contract/provisioning';
import type { MqttConnection } from '../cloud/mqtt-connection';
import {
  type DurabilityOptions,
  readJsonFile,
  writeFileAtomic,
  writeJsonAtomic,
} from '../storage/atomic-file';
import { type CsrOptions, createCertificateRequest, createDeviceKey } from './csr';

/** An MQTT session on one certificate. */
export type IdentityConnector = (identity: {
  readonly clientId: string;
  readonly certificatePem: string;
  readonly privateKey: string;
}) => MqttConnection;

export interface ClaimProvisioningOptions {
  /** The device's serial, on the operator's allowlist: it becomes the thing name. */
  readonly serial: string;
  /** The fleet provisioning template (stack output `ProvisioningTemplateName`). */
  readonly templateName: string;
  readonly claim: { readonly certificatePem: string; readonly privateKey: string };
  /** Where the device's own identity is written (the agent config's identity.certificate / privateKey). */
  readonly certificatePath: string;
  readonly privateKeyPath: string;
  /** Where the trust root from the hello answer goes (identity.trustRoot); not kept when unset. */
  readonly trustRootPath?: string;
  /** Holds the pending key and certificate between the steps (`<stateDir>/claim`). */
  readonly stateDir: string;
  readonly connect: IdentityConnector;
  /** How long one answer may take. @default 30000 */
  readonly answerTimeoutMs?: number;
  readonly log?: (message: string) => void;
  readonly durability?: DurabilityOptions;
  readonly csr?: CsrOptions;
  /** Called as each step ends, for measurements (bench/provisioning.ts). */
  readonly onStep?: (step: ClaimStep) => void;
}

export type ClaimStep = 'connected' | 'csr' | 'certificate' | 'registered' | 'committed' | 'hello';

export interface ProvisionedIdentity {
  readonly deviceId: string;
  readonly certificateId: string;
  /** False when the identity was already there and nothing was done. */
  readonly provisioned: boolean;
  readonly hello?: HelloAcceptedV1;
}

/** AWS IoT (or its hook) refused a step; `code` is its `errorCode` (AccessDenied for the hook). */
export class ClaimRefusedError extends Error {
  override readonly name = 'ClaimRefusedError';
  constructor(
    readonly step: 'CreateCertificateFromCsr' | 'RegisterThing' | 'hello',
    readonly code: string,
    detail: string,
  ) {
    super(`${step} refused: ${code}: ${detail}${code === 'AccessDenied' ? ` (${ACCESS_DENIED_HINT})` : ''}`);
  }
}

const ACCESS_DENIED_HINT =
  'the pre-provisioning hook refused the serial: it is not on the allowlist, it was already used ' +
  'by another device, or the request was malformed; the operator sees which in the hook log';

/** No answer within the timeout (offline, or a broker that does not serve the API). */
export class ClaimTimeoutError extends Error {
  override readonly name = 'ClaimTimeoutError';
}

const PendingCertificate = z.object({
  serial: z.string(),
  certificateId: z.string(),
  certificatePem: z.string(),
  certificateOwnershipToken: z.string(),
});

const CreateFromCsrAccepted = z.object({
  certificateId: z.string().min(1),
  certificatePem: z.string().includes('-----BEGIN CERTIFICATE-----'),
  certificateOwnershipToken: z.string().min(1),
});
const RegisterThingAccepted = z.object({
  thingName: z.string().min(1),
  deviceConfiguration: z.record(z.string(), z.unknown()).optional(),
});
const Rejected = z.object({
  statusCode: z.number().optional(),
  errorCode: z.string().default('Unknown'),
  errorMessage: z.string().default(''),
});

const fileExists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The whole flow, once. Throws ClaimRefusedError, ClaimTimeoutError or a connection error. */
export async function provisionByClaim(options: ClaimProvisioningOptions): Promise<ProvisionedIdentity> {
  const { serial, certificatePath, privateKeyPath, durability } = options;
  const log = options.log ?? (() => {});
  const dir = join(options.stateDir, 'claim');
  const pendingKeyPath = join(dir, 'pending.key');
  const pendingPath = join(dir, 'pending-certificate.json');

  if ((await fileExists(certificatePath)) && (await fileExists(privateKeyPath))) {
    if (await fileExists(join(dir, 'hello.json')))
      return { deviceId: serial, certificateId: '', provisioned: false };
    // Identity committed, hello not answered yet (a power cut after step 4): the registry record
    // is written by the hello, so say it again.
    const identity = {
      certificatePem: await readFile(certificatePath, 'utf8'),
      privateKey: await readFile(privateKeyPath, 'utf8'),
    };
    return {
      deviceId: serial,
      certificateId: '',
      provisioned: false,
      hello: await sayHello(options, identity),
    };
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });

  // Step 1: the key is made once and kept until it is committed, whatever happens in between.
  const privateKey = (await fileExists(pendingKeyPath))
    ? await readFile(pendingKeyPath, 'utf8')
    : await createDeviceKey(pendingKeyPath);
  let pending = await readJsonFile(pendingPath, PendingCertificate);
  if (pending && pending.serial !== serial) pending = undefined;

  // Not the serial: two sessions with one client id take each other over, so a cloned serial
  // could keep the real device from provisioning; the hook reads the serial from the request.
  const claimSession = options.connect({
    clientId: `${CLAIM_CLIENT_ID_PREFIX}${randomBytes(8).toString('hex')}`,
    certificatePem: options.claim.certificatePem,
    privateKey: options.claim.privateKey,
  });
  let registered: z.infer<typeof RegisterThingAccepted>;
  try {
    await claimSession.connected();
    options.onStep?.('connected');
    const topics = fleetProvisioningTopics(options.templateName);
    if (!pending) {
      // Step 2.
      const csrPem = await createCertificateRequest(pendingKeyPath, serial, options.csr);
      options.onStep?.('csr');
      const answer = await request(
        claimSession,
        {
          request: topics.createFromCsr,
          accepted: topics.createFromCsrAccepted,
          rejected: topics.createFromCsrRejected,
        },
        { certificateSigningRequest: csrPem },
        options.answerTimeoutMs,
      );
      if (answer.kind === 'rejected') throw refused('CreateCertificateFromCsr', answer.payload);
      const created = CreateFromCsrAccepted.parse(answer.payload);
      pending = { serial, ...created };
      await writeJsonAtomic(pendingPath, pending, durability);
      options.onStep?.('certificate');
      log(`claim: certificate ${created.certificateId} issued for the device key; registering ${serial}`);
    }
    // Step 3.
    const answer = await request(
      claimSession,
      { request: topics.provision, accepted: topics.provisionAccepted, rejected: topics.provisionRejected },
      {
        certificateOwnershipToken: pending.certificateOwnershipToken,
        parameters: { [CLAIM_PARAMETER.serialNumber]: serial },
      },
      options.answerTimeoutMs,
    );
    if (answer.kind === 'rejected') {
      const rejection = Rejected.parse(answer.payload);
      // The token lives an hour: past it, a pending certificate that the template did activate
      // (its answer lost) is still ours to use; one that it did not is dropped, and we start over.
      if (rejection.errorCode === 'InvalidCertificateOwnershipToken') {
        await rm(pendingPath, { force: true });
        log(`claim: the ownership token of ${pending.certificateId} expired; asking for a new certificate`);
      }
      throw refused('RegisterThing', answer.payload);
    }
    registered = RegisterThingAccepted.parse(answer.payload);
    options.onStep?.('registered');
  } finally {
    await claimSession.end().catch(() => {});
  }
  if (registered.thingName !== serial)
    throw new ClaimRefusedError('RegisterThing', 'UnexpectedThingName', `got '${registered.thingName}'`);

  // Step 4: key first; the certificate's rename is the commit.
  await writeFileAtomic(privateKeyPath, privateKey, durability);
  await writeFileAtomic(certificatePath, pending.certificatePem, durability);
  await rm(pendingPath, { force: true });
  await rm(pendingKeyPath, { force: true });
  options.onStep?.('committed');
  log(`claim: provisioned as ${serial} (certificate ${pending.certificateId}); reconnecting on it`);

  // Step 5.
  const hello = await sayHello(options, { certificatePem: pending.certificatePem, privateKey });
  return { deviceId: serial, certificateId: pending.certificateId, provisioned: true, hello };
}

/** Step 5: hello on the device's own identity; keeps the answer and the trust root. */
async function sayHello(
  options: ClaimProvisioningOptions,
  identity: { readonly certificatePem: string; readonly privateKey: string },
): Promise<HelloAcceptedV1> {
  const session = options.connect({ clientId: options.serial, ...identity });
  try {
    await session.connected();
    const topics = helloTopics(options.serial);
    const requestId = randomUUID();
    const answer = await request(
      session,
      topics,
      { schemaVersion: 1, requestId },
      options.answerTimeoutMs,
      (p) => typeof p === 'object' && p !== null && (p as { requestId?: unknown }).requestId === requestId,
    );
    if (answer.kind === 'rejected') {
      const rejection = HelloRejectedV1.safeParse(answer.payload);
      throw new ClaimRefusedError(
        'hello',
        'Rejected',
        rejection.success ? rejection.data.reason : 'no reason given',
      );
    }
    const accepted = HelloAcceptedV1.parse(answer.payload);
    if (options.trustRootPath && accepted.trustRoot !== undefined)
      await writeJsonAtomic(options.trustRootPath, accepted.trustRoot, options.durability);
    await writeJsonAtomic(join(options.stateDir, 'claim', 'hello.json'), accepted, options.durability);
    options.onStep?.('hello');
    options.log?.(`claim: hello answered: ${accepted.deviceId} at ${accepted.site} (${accepted.region})`);
    return accepted;
  } finally {
    await session.end().catch(() => {});
  }
}

function refused(step: 'CreateCertificateFromCsr' | 'RegisterThing', payload: unknown): ClaimRefusedError {
  const rejection = Rejected.safeParse(payload);
  return rejection.success
    ? new ClaimRefusedError(step, rejection.data.errorCode, rejection.data.errorMessage)
    : new ClaimRefusedError(step, 'Unknown', JSON.stringify(payload).slice(0, 200));
}

/** Subscribes to both answers, publishes the request, and waits for one answer. */
async function request(
  session: MqttConnection,
  topics: { readonly request: string; readonly accepted: string; readonly rejected: string },
  payload: unknown,
  timeoutMs = 30_000,
  mine: (payload: unknown) => boolean = () => true,
): Promise<{ kind: 'accepted' | 'rejected'; payload: unknown }> {
  let settle: (answer: { kind: 'accepted' | 'rejected'; payload: unknown }) => void = () => {};
  const answered = new Promise<{ kind: 'accepted' | 'rejected'; payload: unknown }>((resolve) => {
    settle = resolve;
  });
  session.onMessage((topic, bytes) => {
    const kind = topic === topics.accepted ? 'accepted' : topic === topics.rejected ? 'rejected' : undefined;
    if (!kind) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      return;
    }
    if (mine(parsed)) settle({ kind, payload: parsed });
  });
  await session.subscribe([topics.accepted, topics.rejected], 1);
  await session.publish(topics.request, JSON.stringify(payload), 1);
  const timeout = new AbortController();
  try {
    return await Promise.race([
      answered,
      sleep(timeoutMs, undefined, { signal: timeout.signal }).then(() => {
        throw new ClaimTimeoutError(`no answer on ${topics.accepted} within ${timeoutMs} ms`);
      }),
    ]);
  } finally {
    timeout.abort();
  }
}

export interface ClaimRetryOptions {
  /** Aborted when the service must stop. */
  readonly stop?: AbortSignal;
  /** @default 2000 */
  readonly retryFirstMs?: number;
  /** @default 600000 (10 minutes: a refused serial may be added to the allowlist later) */
  readonly retryMaxMs?: number;
  /** Tries at most; unbounded when unset (a service waits for its operator). */
  readonly maxAttempts?: number;
}

/**
 * `provisionByClaim` until it succeeds: each failure (refusal, timeout, no network) is logged
 * with its reason and tried again after a jittered backoff that doubles up to `retryMaxMs`.
 */
export async function provisionByClaimWithRetry(
  options: ClaimProvisioningOptions,
  retry: ClaimRetryOptions = {},
): Promise<ProvisionedIdentity> {
  const log = options.log ?? (() => {});
  let delayMs = retry.retryFirstMs ?? 2_000;
  for (let attempt = 1; ; attempt++) {
    retry.stop?.throwIfAborted();
    try {
      return await provisionByClaim(options);
    } catch (error) {
      if (retry.stop?.aborted || (retry.maxAttempts !== undefined && attempt >= retry.maxAttempts))
        throw error;
      const jittered = Math.round(delayMs * (0.8 + Math.random() * 0.4));
      log(`claim: provisioning failed: ${(error as Error).message}; trying again in ${jittered} ms`);
      await sleep(jittered, undefined, retry.stop ? { signal: retry.stop } : {}).catch(() => {});
      delayMs = Math.min(delayMs * 2, retry.retryMaxMs ?? 600_000);
    }
  }
}
