import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { BlockPublicAccess, Bucket, BucketEncryption, type IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PLAN_PREFIX } from '../functions/adapters/s3-rollout-plan-store';
import { accessLogBucket } from './access-logs';

export interface ArtifactStoreProps {
  /** @default RemovalPolicy.RETAIN: released artifacts outlive the stack unless a stage says otherwise. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * Where firmware, application, model and config artifacts live: versioned (a released object is
 * never overwritten in place), encrypted, private, reachable over TLS only, with access logs.
 * Started rollouts' plans wait under `rollout-plans/` until their executions are written.
 */
export class ArtifactStore extends Construct {
  public readonly bucket: IBucket;

  constructor(scope: Construct, id: string, props: ArtifactStoreProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    const accessLogs = accessLogBucket(this, removalPolicy);

    this.bucket = new Bucket(this, 'Bucket', {
      versioned: true,
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      serverAccessLogsBucket: accessLogs,
      serverAccessLogsPrefix: 'artifacts/',
      // A rollout's plan pieces are read within minutes of its start; keep them a while to debug.
      lifecycleRules: [
        { prefix: PLAN_PREFIX, expiration: Duration.days(30), noncurrentVersionExpiration: Duration.days(1) },
      ],
      removalPolicy,
    });
  }
}
