/**
 * The KMS calls of the trust publisher (an asymmetric key's public half, and signatures), on
 * AwsService (aws-service.ts says why not the SDK's client). Binary fields are Buffers here,
 * base64 on the wire.
 */
import { AwsService, dnsSuffix } from './aws-service';

export class KmsApi {
  readonly #service = new AwsService({
    signingName: 'kms',
    endpointId: 'KMS',
    host: (region) => `kms.${region}.${dnsSuffix(region)}`,
  });

  /** GetPublicKey: the key's spec and its public key (DER, SubjectPublicKeyInfo). */
  async getPublicKey(input: { keyId: string }): Promise<{ keySpec?: string; publicKey?: Buffer }> {
    const output = await this.#call<{ KeySpec?: string; PublicKey?: string }>('GetPublicKey', {
      KeyId: input.keyId,
    });
    return {
      keySpec: output.KeySpec,
      publicKey: output.PublicKey === undefined ? undefined : Buffer.from(output.PublicKey, 'base64'),
    };
  }

  /** Sign: the signature (DER for ECDSA) of a message, or of its digest with `DIGEST`. */
  async sign(input: {
    keyId: string;
    message: Uint8Array;
    messageType: 'RAW' | 'DIGEST';
    signingAlgorithm: string;
  }): Promise<{ signature?: Buffer }> {
    const output = await this.#call<{ Signature?: string }>('Sign', {
      KeyId: input.keyId,
      Message: Buffer.from(input.message).toString('base64'),
      MessageType: input.messageType,
      SigningAlgorithm: input.signingAlgorithm,
    });
    return {
      signature: output.Signature === undefined ? undefined : Buffer.from(output.Signature, 'base64'),
    };
  }

  /** The AWS JSON 1.1 protocol: POST / naming the operation in X-Amz-Target. */
  #call<T>(operation: string, input: object): Promise<T> {
    return this.#service.sendJson<T>({
      method: 'POST',
      path: '/',
      headers: { 'x-amz-target': `TrentService.${operation}`, 'content-type': 'application/x-amz-json-1.1' },
      body: JSON.stringify(input),
    });
  }
}
