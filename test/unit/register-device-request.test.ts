import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createKeyAndCertificateRequest } from '../../device/identity/csr';
import { ValidationError } from '../../functions/domain/errors';
import { RegisterDeviceRequest } from '../../functions/operator-api/schemas';
import { parseJsonBody } from '../../functions/shared/parse';

const profile = { deviceId: 'gw-001', hardwareType: 'rpi4', site: 'plant-a', region: 'eu' };
let csr: string;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgeops-csr-'));
  try {
    csr = (await createKeyAndCertificateRequest(join(dir, 'device.key'), 'gw-001')).csrPem;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const parse = (body: unknown) => parseJsonBody(RegisterDeviceRequest, JSON.stringify(body));
const fieldsOf = (body: unknown) => {
  try {
    parse(body);
    return [];
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    return error.issues.map((issue) => issue.field);
  }
};

describe('RegisterDeviceRequest csr', () => {
  it('is optional', () => {
    expect(parse(profile)).toEqual(profile);
  });

  it('takes a PEM CSR as openssl makes it', () => {
    expect(parse({ ...profile, csr }).csr).toBe(csr);
  });

  it.each([
    ['not PEM', 'hello'],
    ['a certificate, not a request', () => csr.replaceAll('CERTIFICATE REQUEST', 'CERTIFICATE')],
    [
      'a body that is not base64',
      '-----BEGIN CERTIFICATE REQUEST-----\nnot*base64\n-----END CERTIFICATE REQUEST-----\n',
    ],
    [
      'a body that is not DER',
      '-----BEGIN CERTIFICATE REQUEST-----\naGVsbG8=\n-----END CERTIFICATE REQUEST-----\n',
    ],
    ['a second block after it', () => `${csr}${csr}`],
    [
      'longer than AWS IoT takes (4096)',
      () => csr.replace('\n-----END', `\n${'QUFB\n'.repeat(1000)}-----END`),
    ],
    ['not a string', 42],
  ])('is refused naming csr when it is %s', (_what, value) => {
    const text = typeof value === 'function' ? value() : value;

    expect(fieldsOf({ ...profile, csr: text })).toEqual(['csr']);
  });
});
