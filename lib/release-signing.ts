import { RemovalPolicy } from 'aws-cdk-lib';
import { type IKey, Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';

export interface ReleaseSigningProps {
  /** @default RemovalPolicy.RETAIN: a deleted signing key would orphan every signature made with it. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The online key that signs release metadata: an asymmetric ECC P-256 key in KMS whose private
 * half never leaves KMS. The key policy delegates to IAM (the CDK default); no role in this stack
 * is granted `kms:Sign` yet.
 */
export class ReleaseSigning extends Construct {
  public readonly key: IKey;

  constructor(scope: Construct, id: string, props: ReleaseSigningProps = {}) {
    super(scope, id);
    this.key = new Key(this, 'Key', {
      description: 'EdgeOps release metadata signing key (online role)',
      keySpec: KeySpec.ECC_NIST_P256,
      keyUsage: KeyUsage.SIGN_VERIFY,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
  }
}
