/**
 * The device's own key pair and certificate signing request, so that its private key is born on
 * the device and never leaves it: registration (`POST /devices` with `csr`) sends only the CSR.
 *
 * The key is made with Node's crypto (EC P-256, which AWS IoT accepts). Node cannot build a CSR,
 * and no small maintained package for it is among our dependencies, so the CSR comes from
 * `openssl req`: OpenSSL is on every Linux gateway image we target. Without it the device gets
 * an OpensslNotFoundError saying what to install.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { link, open, rm } from 'node:fs/promises';
import { DEVICE_ID_PATTERN } from '../../contract/identifiers';

export class OpensslNotFoundError extends Error {
  override readonly name = 'OpensslNotFoundError';
  constructor(readonly command: string) {
    super(
      `'${command}' was not found: the device makes its certificate signing request with ` +
        '`openssl req`; install OpenSSL (e.g. `apt-get install openssl`) or name its binary',
    );
  }
}

export interface CsrOptions {
  /** The OpenSSL binary. @default 'openssl' (from PATH) */
  readonly openssl?: string;
  /** @default 30000 */
  readonly timeoutMs?: number;
}

/**
 * Makes a new EC P-256 private key at `keyPath` (PKCS#8 PEM, mode 0600, written and synced to a
 * temp file, then linked into place, so the key file is never half written), and returns it. An
 * existing key is never overwritten: that would strand the certificate issued for it.
 */
export async function createDeviceKey(keyPath: string): Promise<string> {
  const { privateKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const temp = `${keyPath}.${process.pid}.tmp`;
  const file = await open(temp, 'wx', 0o600);
  try {
    await file.writeFile(privateKey);
    await file.sync();
  } finally {
    await file.close();
  }
  try {
    // link, unlike rename, fails when the target exists: an existing key is never replaced.
    await link(temp, keyPath).catch((error: NodeJS.ErrnoException) => {
      throw error.code === 'EEXIST'
        ? new Error(`${keyPath} exists: refusing to replace a device key`)
        : error;
    });
  } finally {
    await rm(temp, { force: true });
  }
  return privateKey;
}

/** A PEM PKCS#10 request for the key at `keyPath`, with subject CN = the device id. */
export function createCertificateRequest(
  keyPath: string,
  deviceId: string,
  options: CsrOptions = {},
): Promise<string> {
  if (!DEVICE_ID_PATTERN.test(deviceId)) throw new Error(`Not a device id: '${deviceId}'`);
  const command = options.openssl ?? 'openssl';
  return new Promise((resolve, reject) => {
    execFile(
      command,
      ['req', '-new', '-sha256', '-key', keyPath, '-subj', `/CN=${deviceId}`],
      { timeout: options.timeoutMs ?? 30_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if ((error as NodeJS.ErrnoException | null)?.code === 'ENOENT')
          reject(new OpensslNotFoundError(command));
        else if (error) reject(new Error(`openssl req failed: ${stderr.trim() || error.message}`));
        else if (!stdout.includes('-----BEGIN CERTIFICATE REQUEST-----'))
          reject(new Error(`openssl req gave no certificate request: ${stdout.slice(0, 200)}`));
        else resolve(stdout);
      },
    );
  });
}

/** A new key at `keyPath` and a CSR for it: what a device sends to register without its key leaving it. */
export async function createKeyAndCertificateRequest(
  keyPath: string,
  deviceId: string,
  options: CsrOptions = {},
): Promise<{ readonly privateKeyPem: string; readonly csrPem: string }> {
  const privateKeyPem = await createDeviceKey(keyPath);
  return { privateKeyPem, csrPem: await createCertificateRequest(keyPath, deviceId, options) };
}
