import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ReleaseCatalog, ReleaseForRollout } from '../ports/release-catalog';

interface StoredReleasedArtifact {
  readonly s3Key: string;
  readonly s3VersionId?: string;
  readonly sha256: string;
  readonly size: number;
}

/** Reads releases (pk `RELEASE#<id>`, sk `RELEASE`) as rollouts need them. */
export class DynamoDbReleaseCatalog implements ReleaseCatalog {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly artifactBucket: string,
  ) {}

  async getRelease(releaseId: string): Promise<ReleaseForRollout | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: `RELEASE#${releaseId}`, sk: 'RELEASE' } }),
    );
    if (!Item) return undefined;
    const artifacts = Object.entries((Item.artifacts ?? {}) as Record<string, StoredReleasedArtifact>);
    return {
      releaseId: String(Item.releaseId),
      version: String(Item.version),
      artifacts: artifacts.map(([hardwareType, a]) => ({
        hardwareType,
        bucket: this.artifactBucket,
        key: a.s3Key,
        ...(a.s3VersionId === undefined ? {} : { versionId: a.s3VersionId }),
        size: a.size,
        sha256: a.sha256,
      })),
    };
  }

  /** Release ids are derived from versions (`rel-<version>`), so this is a key lookup. */
  findByVersion(version: string): Promise<ReleaseForRollout | undefined> {
    return this.getRelease(`rel-${version}`);
  }
}
