import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ReleaseCatalog, ReleaseForRollout } from '../ports/release-catalog';
import { releaseFromItem } from './dynamodb-release-item';

/**
 * Reads releases (pk `RELEASE#<id>`, sk `RELEASE`) as rollouts need them; releases stored before
 * multi-component releases read as one `firmware` component (dynamodb-release-item.ts).
 */
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
    const release = releaseFromItem(Item);
    return {
      releaseId: release.releaseId,
      version: release.version,
      components: Object.fromEntries(
        Object.entries(release.components).map(([hardwareType, components]) => [
          hardwareType,
          components.map(({ name, handler, order, settings, artifact }) => ({
            name,
            handler,
            order,
            settings,
            version: artifact.version,
            bucket: this.artifactBucket,
            key: artifact.s3Key,
            ...(artifact.s3VersionId === undefined ? {} : { versionId: artifact.s3VersionId }),
            size: artifact.size,
            sha256: artifact.sha256,
          })),
        ]),
      ),
      ...(release.downloadLimits === undefined ? {} : { downloadLimits: release.downloadLimits }),
    };
  }

  /** Release ids are derived from versions (`rel-<version>`), so this is a key lookup. */
  findByVersion(version: string): Promise<ReleaseForRollout | undefined> {
    return this.getRelease(`rel-${version}`);
  }
}
