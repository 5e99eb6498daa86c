/**
 * MetadataSigner on an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY): the online keys of the
 * targets, snapshot and timestamp roles. The private key never leaves KMS; the key policy lets
 * only the trust publisher's role sign (lib/release-signing.ts).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { keyIdOf, type MetadataSigner, type TufPublicKey } from '../domain/tuf-metadata';
import type { KmsApi } from '../shared/aws-api/kms';

export class KmsMetadataSigner implements MetadataSigner {
  private constructor(
    private readonly kms: KmsApi,
    readonly kmsKeyArn: string,
    readonly publicKey: TufPublicKey,
    readonly keyId: string,
  ) {}

  static async load(kms: KmsApi, kmsKeyArn: string): Promise<KmsMetadataSigner> {
    const response = await kms.getPublicKey({ keyId: kmsKeyArn });
    if (response.keySpec !== 'ECC_NIST_P256' || !response.publicKey)
      throw new Error(`KMS key ${kmsKeyArn} is ${response.keySpec}, not an ECC_NIST_P256 signing key`);
    const pem = createPublicKey({ key: response.publicKey, format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const publicKey: TufPublicKey = {
      keytype: 'ecdsa',
      scheme: 'ecdsa-sha2-nistp256',
      keyval: { public: pem },
    };
    return new KmsMetadataSigner(kms, kmsKeyArn, publicKey, keyIdOf(publicKey));
  }

  async sign(bytes: Uint8Array): Promise<string> {
    // KMS signs at most 4 KB raw; targets metadata is larger, so KMS gets the SHA-256 digest.
    const { signature } = await this.kms.sign({
      keyId: this.kmsKeyArn,
      message: createHash('sha256').update(bytes).digest(),
      messageType: 'DIGEST',
      signingAlgorithm: 'ECDSA_SHA_256',
    });
    if (!signature) throw new Error(`KMS returned no signature for ${this.kmsKeyArn}`);
    return signature.toString('hex');
  }
}
