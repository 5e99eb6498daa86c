import { Duration, Size, Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { MAX_SINGLE_UPLOAD_SIZE } from '../functions/domain/artifact';
import { EdgeOpsFunction } from './edgeops-function';
import type { FleetStore } from './fleet-store';
import { nagArn } from './nag';
import type { OperatorApi } from './operator-api';

/** Where artifact objects live in the bucket; no role here reaches any other key. */
const ARTIFACT_PREFIX = 'artifacts/';

export interface ReleaseCatalogProps {
  /** Holds artifact and release records next to the devices. */
  readonly fleet: FleetStore;
  /** The (versioned) bucket artifacts are uploaded to, under `artifacts/`. */
  readonly bucket: IBucket;
  /** The API the routes are added to, behind its Cognito authorizer. */
  readonly api: OperatorApi;
  /**
   * Artifacts larger than this are uploaded in parts (multipart upload); smaller ones with one
   * presigned PUT. At most 5 GiB, S3's limit for one PUT.
   * @default Size.mebibytes(64)
   */
  readonly multipartThreshold?: Size;
  /**
   * How long presigned upload URLs stay valid (shorter if the signing Lambda's session
   * credentials expire first). Between 1 minute and 7 days, SigV4's limit.
   * @default Duration.hours(1)
   */
  readonly uploadUrlTtl?: Duration;
}

/**
 * Artifacts and releases: operators upload an artifact through presigned URLs, the backend
 * measures it (SHA-256 and size, in an asynchronously invoked seal Lambda, since large files take
 * longer than an API request may), and a release pins ready artifacts, per hardware type one
 * or several components, once per version. Each route has its own Lambda and role holding only
 * what that route needs.
 */
export class ReleaseCatalog extends Construct {
  public readonly sealFunction: IFunction;

  constructor(scope: Construct, id: string, props: ReleaseCatalogProps) {
    super(scope, id);
    const threshold = (props.multipartThreshold ?? Size.mebibytes(64)).toBytes();
    if (threshold < 1 || threshold > MAX_SINGLE_UPLOAD_SIZE) {
      throw new Error(`multipartThreshold must be between 1 byte and 5 GiB, got ${threshold} bytes`);
    }
    const ttl = (props.uploadUrlTtl ?? Duration.hours(1)).toSeconds();
    if (ttl < 60 || ttl > 7 * 24 * 3600) {
      throw new Error(`uploadUrlTtl must be between 1 minute and 7 days, got ${ttl} seconds`);
    }
    const { fleet, bucket, api } = props;
    const artifactObjects = bucket.arnForObjects(`${ARTIFACT_PREFIX}*`);
    const environment = { FLEET_TABLE_NAME: fleet.table.tableName, ARTIFACT_BUCKET_NAME: bucket.bucketName };
    const onArtifactObjects = (...actions: string[]) =>
      new PolicyStatement({ actions, resources: [artifactObjects] });
    const acknowledgeArtifactObjects = (fn: IFunction, why: string) =>
      Validations.of(fn).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArn(this, bucket.bucketArn)}/${ARTIFACT_PREFIX}*]`,
        reason: `Artifact object keys (artifacts/<random id>) are made at run time; ${why}`,
      });

    const seal = new EdgeOpsFunction(this, 'SealArtifact', {
      handlerFile: 'artifact-sealing/seal-artifact.handler.ts',
      environment,
      // Streams the whole object once: give it a full vCPU and Lambda's longest run.
      timeout: Duration.minutes(15),
      memorySize: 1769,
      retryAttempts: 2,
    });
    fleet.grantItems(seal, 'GetItem', 'UpdateItem');
    // Reads the current version only (no VersionId), so s3:GetObjectVersion is not needed.
    seal.addToRolePolicy(onArtifactObjects('s3:GetObject'));
    acknowledgeArtifactObjects(seal, 'the seal only reads them.');
    this.sealFunction = seal;

    const createArtifact = new EdgeOpsFunction(this, 'CreateArtifact', {
      handlerFile: 'operator-api/create-artifact.handler.ts',
      environment: {
        ...environment,
        MULTIPART_THRESHOLD_BYTES: String(threshold),
        UPLOAD_URL_TTL_SECONDS: String(ttl),
      },
    });
    fleet.grantItems(createArtifact, 'PutItem');
    // Presigned PUT and UploadPart URLs carry this role's permission; so does CreateMultipartUpload.
    createArtifact.addToRolePolicy(onArtifactObjects('s3:PutObject'));
    acknowledgeArtifactObjects(createArtifact, 'its presigned URLs can only write them.');

    const completeUpload = new EdgeOpsFunction(this, 'CompleteArtifactUpload', {
      handlerFile: 'operator-api/complete-artifact-upload.handler.ts',
      environment: { ...environment, SEAL_FUNCTION_NAME: seal.functionName },
      // CompleteMultipartUpload of many parts can take seconds; API Gateway waits up to 29 s.
      timeout: Duration.seconds(28),
    });
    fleet.grantItems(completeUpload, 'GetItem', 'UpdateItem');
    completeUpload.addToRolePolicy(onArtifactObjects('s3:PutObject')); // CompleteMultipartUpload
    completeUpload.addToRolePolicy(
      // Whether the object is there, by listing its key: no read access to the bytes needed.
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': `${ARTIFACT_PREFIX}*` } },
      }),
    );
    completeUpload.addToRolePolicy(
      // The function ARN alone (not `:*`): only the unqualified function, no version or alias.
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [seal.functionArn] }),
    );
    acknowledgeArtifactObjects(completeUpload, 'it only assembles multipart uploads of them.');

    const getArtifact = new EdgeOpsFunction(this, 'GetArtifact', {
      handlerFile: 'operator-api/get-artifact.handler.ts',
      environment: { FLEET_TABLE_NAME: fleet.table.tableName },
    });
    fleet.grantItems(getArtifact, 'GetItem');

    const createRelease = new EdgeOpsFunction(this, 'CreateRelease', {
      handlerFile: 'operator-api/create-release.handler.ts',
      environment: { FLEET_TABLE_NAME: fleet.table.tableName },
    });
    // Reads the listed artifacts; writes the release and its listing copy in one transaction.
    fleet.grantItems(createRelease, 'GetItem', 'PutItem');

    const getRelease = new EdgeOpsFunction(this, 'GetRelease', {
      handlerFile: 'operator-api/get-release.handler.ts',
      environment: { FLEET_TABLE_NAME: fleet.table.tableName },
    });
    fleet.grantItems(getRelease, 'GetItem');

    const listReleases = new EdgeOpsFunction(this, 'ListReleases', {
      handlerFile: 'operator-api/list-releases.handler.ts',
      environment: { FLEET_TABLE_NAME: fleet.table.tableName },
    });
    fleet.grantItems(listReleases, 'Query');

    api.addRoute('POST', 'artifacts', createArtifact);
    api.addRoute('GET', 'artifacts/{artifactId}', getArtifact);
    api.addRoute('POST', 'artifacts/{artifactId}/complete', completeUpload);
    api.addRoute('POST', 'releases', createRelease);
    api.addRoute('GET', 'releases', listReleases);
    api.addRoute('GET', 'releases/{releaseId}', getRelease);
  }
}
