/**
 * What a rotation CSR must be before it reaches the certificate authority: a PKCS#10 request
 * whose subject is exactly `CN=<the device id>` and whose key is EC on P-256, as the device's own
 * (`device/identity/csr.ts`) is. AWS IoT's CreateCertificateFromCsr would sign any subject and
 * several key types: a device could otherwise obtain a certificate named for another device, or
 * a weaker key. The signature itself is left to AWS IoT, which verifies it.
 *
 * A minimal DER reader: only what PKCS#10 (RFC 2986) needs, no AWS and no dependencies.
 */
import { certificateRequestProblem } from './certificate-request';

const OID_COMMON_NAME = '2.5.4.3';
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
const OID_P256 = '1.2.840.10045.3.1.7';

interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new Error('truncated');
  const tag = der[offset] as number;
  let length = der[offset + 1] as number;
  let start = offset + 2;
  if (length & 0x80) {
    const bytes = length & 0x7f;
    if (bytes === 0 || bytes > 3 || start + bytes > limit) throw new Error('bad length');
    length = 0;
    for (let i = 0; i < bytes; i++) length = (length << 8) | (der[start + i] as number);
    start += bytes;
  }
  const end = start + length;
  if (end > limit) throw new Error('truncated');
  return { tag, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

function oid(der: Uint8Array, tlv: Tlv): string {
  if (tlv.tag !== 0x06 || tlv.end <= tlv.start) throw new Error('not an OID');
  const first = der[tlv.start] as number;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (let i = tlv.start + 1; i < tlv.end; i++) {
    const byte = der[i] as number;
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

export interface CsrFacts {
  /** Each attribute of the subject as `<oid>=<value>`, in order. */
  readonly subject: readonly string[];
  readonly commonName?: string;
  readonly keyAlgorithm: string;
  /** The named curve of an EC key. */
  readonly curve?: string;
}

/** Subject and key type of a PEM CSR; throws when the DER is not a PKCS#10 request. */
export function readCsrFacts(pem: string): CsrFacts {
  const base64 = pem.replace(/-----(BEGIN|END) CERTIFICATE REQUEST-----/g, '').replace(/\s+/g, '');
  const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const request = readTlv(der, 0, der.length);
  const [info] = children(der, request);
  if (info?.tag !== 0x30) throw new Error('no CertificationRequestInfo');
  const [version, name, keyInfo] = children(der, info);
  if (version?.tag !== 0x02 || !name || name.tag !== 0x30 || !keyInfo || keyInfo.tag !== 0x30)
    throw new Error('not a PKCS#10 request');
  const subject: string[] = [];
  let commonName: string | undefined;
  for (const rdn of children(der, name)) {
    for (const attribute of children(der, rdn)) {
      const [type, value] = children(der, attribute);
      if (!type || !value) throw new Error('bad subject attribute');
      const text = new TextDecoder().decode(der.subarray(value.start, value.end));
      const typeOid = oid(der, type);
      subject.push(`${typeOid}=${text}`);
      if (typeOid === OID_COMMON_NAME) commonName = text;
    }
  }
  const [algorithm] = children(der, keyInfo);
  if (algorithm?.tag !== 0x30) throw new Error('no key algorithm');
  const [algorithmOid, parameters] = children(der, algorithm);
  if (!algorithmOid) throw new Error('no key algorithm');
  const keyAlgorithm = oid(der, algorithmOid);
  const curve = parameters?.tag === 0x06 ? oid(der, parameters) : undefined;
  return {
    subject,
    ...(commonName !== undefined ? { commonName } : {}),
    keyAlgorithm,
    ...(curve ? { curve } : {}),
  };
}

/**
 * Why `pem` is not a rotation CSR for `deviceId`, in words a device log can show, or undefined
 * when it is one: PEM shape, subject exactly CN=deviceId, EC P-256 key.
 */
export function rotationCsrProblem(pem: string, deviceId: string): string | undefined {
  const shape = certificateRequestProblem(pem);
  if (shape) return `csr: must be ${shape}`;
  let facts: CsrFacts;
  try {
    facts = readCsrFacts(pem);
  } catch (error) {
    return `csr: not a PKCS#10 certificate request (${(error as Error).message})`;
  }
  if (facts.keyAlgorithm !== OID_EC_PUBLIC_KEY || facts.curve !== OID_P256)
    return `csr: the key must be EC on P-256 (got ${facts.keyAlgorithm === OID_EC_PUBLIC_KEY ? `EC on ${facts.curve ?? 'an unnamed curve'}` : `algorithm ${facts.keyAlgorithm}`})`;
  if (facts.commonName !== deviceId || facts.subject.length !== 1)
    return `csr: the subject must be exactly CN=${deviceId} (got ${facts.subject.length === 0 ? 'an empty subject' : facts.subject.join(', ')})`;
  return undefined;
}
