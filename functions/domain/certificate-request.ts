/**
 * The shape of a certificate signing request as the API takes it: one PEM block of a PKCS#10
 * request (RFC 7468 `CERTIFICATE REQUEST`), base64 in lines of at most 76 characters, whose DER
 * is an ASN.1 SEQUENCE. Whether the request verifies and its key is one AWS IoT accepts (RSA of
 * at least 2048 bits, EC on P-256, P-384 or P-521) only the certificate authority decides.
 */

/** AWS IoT's own bound on `certificateSigningRequest` (CreateCertificateFromCsr: 1–4096). */
export const CSR_MAX_LENGTH = 4096;

const PEM =
  /^-----BEGIN CERTIFICATE REQUEST-----\r?\n((?:[A-Za-z0-9+/=]{1,76}\r?\n)+)-----END CERTIFICATE REQUEST-----\r?\n?$/;

/** Why `text` is not a PEM CSR, or undefined when its shape is right. */
export function certificateRequestProblem(text: string): string | undefined {
  if (text.length > CSR_MAX_LENGTH) return `at most ${CSR_MAX_LENGTH} characters`;
  const body = PEM.exec(text)?.[1];
  if (body === undefined)
    return 'a PEM certificate signing request (-----BEGIN CERTIFICATE REQUEST----- ... -----END CERTIFICATE REQUEST-----)';
  const base64 = body.replace(/\r?\n/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64) || base64.length % 4 !== 0) return 'the PEM body is not base64';
  // 0x30: an ASN.1 SEQUENCE, as every PKCS#10 request is.
  if (atob(base64).charCodeAt(0) !== 0x30) return 'the PEM body is not a DER certificate request';
  return undefined;
}
