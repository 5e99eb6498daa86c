import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key, KeySpec, KeyUsage } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import { nagArn } from './nag';
import type { OperatorApi } from './operator-api';

/** Where the TUF metadata lives in the artifact bucket (functions/adapters/s3-trust-files.ts). */
export const TRUST_PREFIX = 'tuf/';

export interface ReleaseTrustProps {
  readonly fleet: FleetStore;
  readonly bucket: IBucket;
  readonly api: OperatorApi;
  /**
   * One online signing key is made per generation. Rotation: add a generation, deploy, sign a
   * root naming the new key (npm run trust -- rotate-online), and remove the old generation once
   * devices took that root. See README, "Release trust".
   * @default ['1']
   */
  readonly onlineKeyGenerations?: readonly string[];
  /** How long a published timestamp is valid; the refresh re-signs at a quarter of it. @default 1 day */
  readonly timestampLifetime?: Duration;
  /** @default RemovalPolicy.RETAIN: a deleted key would orphan every signature made with it. */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The release trust chain (functions/domain/tuf-metadata.ts): online KMS keys for the targets,
 * snapshot and timestamp roles, and the one function that signs with them. Their key policy denies
 * `kms:Sign` to every other principal, admins included, so a stolen Lambda role cannot sign.
 * Root keys stay with the operators; they upload each signed root through `PUT /trust/root`.
 */
export class ReleaseTrust extends Construct {
  public readonly publisher: IFunction;
  public readonly keyArns: string[];
  /** `tuf/*` in the artifact bucket. */
  public readonly trustObjects: string;
  private readonly fleet: FleetStore;
  private readonly bucketArnForNag: string;

  constructor(scope: Construct, id: string, props: ReleaseTrustProps) {
    super(scope, id);
    const { fleet, bucket, api } = props;
    const generations = props.onlineKeyGenerations ?? ['1'];
    if (generations.length === 0) throw new Error('onlineKeyGenerations needs at least one generation');
    const timestampLifetime = props.timestampLifetime ?? Duration.days(1);
    const trustObjects = bucket.arnForObjects(`${TRUST_PREFIX}*`);
    this.trustObjects = trustObjects;
    this.fleet = fleet;
    const _stack = Stack.of(this);
    this.bucketArnForNag = nagArn(this, bucket.bucketArn);

    const publisher = new EdgeOpsFunction(this, 'Publisher', {
      handlerFile: 'trust-publishing/publish-trust.handler.ts',
      environment: {
        FLEET_TABLE_NAME: fleet.table.tableName,
        ARTIFACT_BUCKET_NAME: bucket.bucketName,
        TIMESTAMP_LIFETIME_SECONDS: String(timestampLifetime.toSeconds()),
      },
      timeout: Duration.minutes(2),
    });
    const keys = generations.map(
      (generation) =>
        new Key(this, `OnlineKey${generation}`, {
          description: `EdgeOps release trust: online key generation ${generation} (targets, snapshot, timestamp)`,
          keySpec: KeySpec.ECC_NIST_P256,
          keyUsage: KeyUsage.SIGN_VERIFY,
          removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
        }),
    );
    const publisherRole = publisher.role;
    if (!publisherRole) throw new Error('The trust publisher has no role');
    // AWS gives a role session's aws:PrincipalArn as the role's ARN; local AWS gives the session's
    // (assumed-role) ARN. Naming both keeps the deny exact in either.
    const publisherArns = [
      publisherRole.roleArn,
      `arn:${Aws.PARTITION}:sts::${Aws.ACCOUNT_ID}:assumed-role/${publisherRole.roleName}/*`,
    ];
    for (const key of keys) {
      key.addToResourcePolicy(
        new PolicyStatement({
          sid: 'OnlyThePublisherSigns',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['kms:Sign'],
          resources: ['*'],
          conditions: { ArnNotLike: { 'aws:PrincipalArn': publisherArns } },
        }),
      );
    }
    this.keyArns = keys.map((k) => k.keyArn);
    publisher.addEnvironment('ONLINE_KEY_ARNS', this.keyArns.join(','));
    publisher.addToRolePolicy(
      new PolicyStatement({ actions: ['kms:Sign', 'kms:GetPublicKey'], resources: this.keyArns }),
    );
    // State, lock and targets (pk TRUST); reads the rollout, its release and its deltas.
    fleet.grantItems(publisher, 'GetItem', 'PutItem', 'DeleteItem', 'Query');
    publisher.addToRolePolicy(
      new PolicyStatement({ actions: ['s3:GetObject', 's3:PutObject'], resources: [trustObjects] }),
    );
    this.#acknowledgeTrustObjects(publisher, 'the publisher writes them.');
    this.publisher = publisher;

    // Re-sign before the timestamp expires, with three refreshes of slack.
    new Rule(this, 'Refresh', {
      schedule: Schedule.rate(Duration.minutes(Math.max(1, Math.floor(timestampLifetime.toMinutes() / 4)))),
      targets: [new LambdaFunction(publisher, { event: RuleTargetInput.fromObject({ action: 'refresh' }) })],
    });

    const readRoot = new EdgeOpsFunction(this, 'GetTrustRoot', {
      handlerFile: 'operator-api/trust/get-trust-root.handler.ts',
      environment: { FLEET_TABLE_NAME: fleet.table.tableName, ARTIFACT_BUCKET_NAME: bucket.bucketName },
    });
    this.grantReadRoot(readRoot);

    const manage = new EdgeOpsFunction(this, 'ManageTrust', {
      handlerFile: 'operator-api/trust/manage-trust.handler.ts',
      environment: { TRUST_PUBLISHER_FUNCTION_NAME: publisher.functionName },
    });
    publisher.grantInvoke(manage);
    Validations.of(manage).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(this, publisher.functionArn)}:*]`,
      reason: 'CDK grants invoking every version and alias of the publisher; there is only $LATEST.',
    });

    api.addRoute('GET', 'trust/root', readRoot);
    api.addRoute('PUT', 'trust/root', manage);
    api.addRoute('GET', 'trust/online-keys', manage);
  }

  /** Lets `fn` read the trust state and the root files (device registration hands out the root). */
  grantReadRoot(fn: IFunction): void {
    this.fleet.grantItems(fn, 'GetItem');
    fn.addToRolePolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [this.trustObjects] }));
    this.#acknowledgeTrustObjects(fn, 'it reads the newest root.');
  }

  #acknowledgeTrustObjects(fn: IFunction, why: string): void {
    Validations.of(fn).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${this.bucketArnForNag}/${TRUST_PREFIX}*]`,
      reason: `TUF metadata files are named by version at run time; ${why}`,
    });
  }
}
