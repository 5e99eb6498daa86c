/**
 * MetadataSigner on a private key held in this process: the offline root keys an operator keeps
 * (scripts/trust), and the online keys of tests and simulations. The stack itself signs with KMS.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { keyIdOf, type MetadataSigner, type TufPublicKey } from '../domain/tuf-metadata';

export type LocalKeyType = 'ed25519' | 'ecdsa';

export class LocalKeySigner implements MetadataSigner {
  readonly publicKey: TufPublicKey;
  readonly keyId: string;

  private constructor(private readonly privateKey: KeyObject) {
    const pem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
    this.publicKey =
      privateKey.asymmetricKeyType === 'ed25519'
        ? { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: pem } }
        : { keytype: 'ecdsa', scheme: 'ecdsa-sha2-nistp256', keyval: { public: pem } };
    this.keyId = keyIdOf(this.publicKey);
  }

  static generate(type: LocalKeyType = 'ed25519'): LocalKeySigner {
    const { privateKey } =
      type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return new LocalKeySigner(privateKey);
  }

  /** From a PKCS#8 PEM private key (ed25519 or P-256). */
  static fromPem(pem: string): LocalKeySigner {
    const key = createPrivateKey(pem);
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (key.asymmetricKeyType !== 'ed25519' && !(key.asymmetricKeyType === 'ec' && curve === 'prime256v1'))
      throw new Error(`unsupported key: ${key.asymmetricKeyType} ${curve ?? ''}; use ed25519 or P-256`);
    return new LocalKeySigner(key);
  }

  toPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(bytes: Uint8Array): Promise<string> {
    const algorithm = this.publicKey.keytype === 'ed25519' ? null : 'sha256';
    return sign(algorithm, bytes, this.privateKey).toString('hex');
  }
}
