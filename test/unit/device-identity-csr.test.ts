import { execFileSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createCertificateRequest,
  createKeyAndCertificateRequest,
  OpensslNotFoundError,
} from '../../device/identity/csr';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const freshDir = () => {
  dir = mkdtempSync(join(tmpdir(), 'edgeops-csr-'));
  return dir;
};

describe('createKeyAndCertificateRequest', () => {
  it('makes an EC P-256 key (mode 0600) and a verifying CSR for it with CN = the device id', async () => {
    const keyPath = join(freshDir(), 'device.key');

    const { privateKeyPem, csrPem } = await createKeyAndCertificateRequest(keyPath, 'gw-001');

    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(createPublicKey(privateKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const text = execFileSync('openssl', ['req', '-verify', '-noout', '-subject', '-pubkey'], {
      input: csrPem,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    expect(text).toContain('CN = gw-001');
    expect(text).toContain(createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString());
  });

  it('never replaces an existing key', async () => {
    const keyPath = join(freshDir(), 'device.key');
    writeFileSync(keyPath, 'OLD KEY');

    await expect(createKeyAndCertificateRequest(keyPath, 'gw-001')).rejects.toThrow(/refusing to replace/);
  });
});

describe('createCertificateRequest', () => {
  it('says OpenSSL is missing, and what to install, when there is no openssl binary', async () => {
    const keyPath = join(freshDir(), 'device.key');
    await createKeyAndCertificateRequest(keyPath, 'gw-001');

    const failure = await createCertificateRequest(keyPath, 'gw-001', {
      openssl: join(dir, 'no-openssl-here'),
    }).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(OpensslNotFoundError);
    expect((failure as Error).message).toMatch(/install OpenSSL/);
  });

  it('refuses a device id that could change the subject', () => {
    expect(() => createCertificateRequest('/dev/null', 'gw/CN=other')).toThrow(/Not a device id/);
  });
});
