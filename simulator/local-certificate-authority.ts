/**
 * A throwaway certificate authority for local mutual TLS, as AWS IoT has it: a CA, a server
 * certificate for 127.0.0.1 (what `iot:Data-ATS` would present) and device certificates whose
 * common name is the thing name. P-256 keys, valid for two days, made with the `openssl` CLI
 * (Node can make keys but cannot issue certificates). For tests and benchmarks only.
 */
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as PEM and as the files they were written to (the key 0600). */
export interface IssuedCertificate {
  readonly certificatePem: string;
  readonly privateKey: string;
  readonly files: { readonly certificate: string; readonly privateKey: string };
}

export class LocalCertificateAuthority {
  private constructor(
    private readonly dir: string,
    readonly certificatePem: string,
    /** The CA certificate's file: `identity.ca` of a device config. */
    readonly certificateFile: string,
    private readonly keyFile: string,
  ) {}

  /** Makes the CA's key and self-signed certificate in `dir` (which must exist). */
  static async create(dir: string): Promise<LocalCertificateAuthority> {
    const certificate = join(dir, 'ca.pem');
    const key = join(dir, 'ca.key');
    await openssl(dir, [
      ...newKey(key),
      '-out',
      certificate,
      '-subj',
      '/CN=EdgeOps throwaway CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await chmod(key, 0o600);
    return new LocalCertificateAuthority(dir, await readFile(certificate, 'utf8'), certificate, key);
  }

  /** A server certificate for an IP address (the broker on 127.0.0.1). */
  issueServer(ip = '127.0.0.1'): Promise<IssuedCertificate> {
    return this.#issue(`server-${ip}`, ip, ['serverAuth', `subjectAltName=IP:${ip}`]);
  }

  /** A device certificate: common name = thing name, as the broker checks against the client id. */
  issueDevice(thingName: string): Promise<IssuedCertificate> {
    return this.#issue(`device-${thingName}`, thingName, ['clientAuth']);
  }

  async #issue(name: string, commonName: string, [usage, san]: string[]): Promise<IssuedCertificate> {
    const files = {
      certificate: join(this.dir, `${name}.pem.crt`),
      privateKey: join(this.dir, `${name}.pem.key`),
    };
    await openssl(this.dir, [
      '-CA',
      this.certificateFile,
      '-CAkey',
      this.keyFile,
      ...newKey(files.privateKey),
      '-out',
      files.certificate,
      '-subj',
      `/CN=${commonName}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      `extendedKeyUsage=${usage}`,
      ...(san ? ['-addext', san] : []),
    ]);
    await chmod(files.privateKey, 0o600);
    return {
      certificatePem: await readFile(files.certificate, 'utf8'),
      privateKey: await readFile(files.privateKey, 'utf8'),
      files,
    };
  }
}

const newKey = (keyFile: string) => [
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:prime256v1',
  '-nodes',
  '-keyout',
  keyFile,
  '-days',
  '2',
];

/**
 * `openssl req -x509` with a config of its own: the system's would add its `v3_ca` extensions
 * (CA:TRUE) to every certificate, leaf ones included.
 */
async function openssl(dir: string, args: readonly string[]): Promise<void> {
  const config = join(dir, 'openssl-req.cnf');
  await writeFile(config, '[req]\ndistinguished_name = dn\n[dn]\n');
  try {
    await run('openssl', ['req', '-x509', '-config', config, ...args]);
  } catch (error) {
    const { code, stderr } = error as { code?: unknown; stderr?: string };
    if (code === 'ENOENT') throw new Error('The openssl CLI is needed to issue local certificates');
    throw new Error(`openssl req failed: ${stderr?.trim() || (error as Error).message}`);
  }
}
