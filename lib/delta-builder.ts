import { Duration, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { DELTA_PREFIX } from '../functions/domain/delta';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import { nagArn } from './nag';

export interface DeltaBuilderProps {
  /** Holds the delta records, in each release's partition. */
  readonly fleet: FleetStore;
  /** The (versioned) artifact bucket: images are read from `artifacts/`, patches written to `deltas/`. */
  readonly artifactBucket: IBucket;
}

/**
 * The Lambda that builds one delta (functions/delta-building), invoked by the rollout state
 * machine for each delta a rollout plans. It holds base, image and patch in memory and zstd's
 * match tables for a window as large as the image. Measured at level 19 (`createDelta`'s
 * default; levels 1-3 found almost no matches in a 200 MB base): peak 5.1 GB and 101 s for a
 * 200 MB image, 5.4 GB and 176 s at 255 MB, the most a build takes (MAX_DELTA_INPUT_BYTES). So it
 * gets 8 GB (Lambda allows 10 GB), which also buys it more CPU, and Lambda's longest run.
 */
export class DeltaBuilder extends Construct {
  public readonly function: IFunction;

  constructor(scope: Construct, id: string, props: DeltaBuilderProps) {
    super(scope, id);
    const { fleet, artifactBucket } = props;
    const fn = new EdgeOpsFunction(this, 'BuildDelta', {
      handlerFile: 'delta-building/build-delta.handler.ts',
      environment: {
        FLEET_TABLE_NAME: fleet.table.tableName,
        ARTIFACT_BUCKET_NAME: artifactBucket.bucketName,
      },
      // The build works in memory; /tmp keeps its default 512 MB.
      memorySize: 8192,
      timeout: Duration.minutes(15),
    });
    // Checks whether the delta is recorded already, then records it (create-only).
    fleet.grantItems(fn, 'GetItem', 'PutItem');
    // Reads the exact object versions the releases pinned (GetObject with a VersionId).
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [artifactBucket.arnForObjects('artifacts/*')],
      }),
    );
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [artifactBucket.arnForObjects(`${DELTA_PREFIX}*`)],
      }),
    );
    const bucketArn = nagArn(this, artifactBucket.bucketArn);
    Validations.of(fn).acknowledge(
      {
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/artifacts/*]`,
        reason:
          'Deltas are built from any released image; artifact keys (artifacts/<random id>) are made at run time.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::${bucketArn}/${DELTA_PREFIX}*]`,
        reason: 'Delta keys name the release, hardware type and base image, known only at run time.',
      },
    );
    this.function = fn;
  }
}
