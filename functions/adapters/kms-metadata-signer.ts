/**
 * MetadataSigner on an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY): the online keys of the
 * targets, snapshot and timestamp roles. The private key never leaves KMS; the key policy lets
 * only the trust publisher's role sign (lib/release-signing.ts).
 */
import { createHash, createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { keyIdOf, type MetadataSigner, type TufPublicKey } from '../domain/tuf-metadata';

export class KmsMetadataSigner implements MetadataSigner {
  private constructor(
    private readonly kms: KMSClient,
    readonly kmsKeyArn: string,
    readonly publicKey: TufPublicKey,
    readonly keyId: string,
  ) {}

  static async load(kms: KMSClient, kmsKeyArn: string): Promise<KmsMetadataSigner> {
    const response = await kms.send(new GetPublicKeyCommand({ KeyId: kmsKeyArn }));
    if (response.KeySpec !== 'ECC_NIST_P256' || !response.PublicKey)
      throw new Error(`KMS key ${kmsKeyArn} is ${response.KeySpec}, not an ECC_NIST_P256 signing key`);
    const pem = createPublicKey({ key: Buffer.from(response.PublicKey), format: 'der', type: 'spki' })
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
    const response = await this.kms.send(
      new SignCommand({
        KeyId: this.kmsKeyArn,
        Message: createHash('sha256').update(bytes).digest(),
        MessageType: 'DIGEST',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    if (!response.Signature) throw new Error(`KMS returned no signature for ${this.kmsKeyArn}`);
    return Buffer.from(response.Signature).toString('hex');
  }
}
