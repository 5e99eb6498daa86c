import { ConditionalCheckFailedException, TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { Artifact, ArtifactDigest } from '../domain/artifact';
import { ReleaseAlreadyExistsError } from '../domain/errors';
import type { Release } from '../domain/release';
import type { ListReleasesQuery, ReleasePage, ReleaseStore } from '../ports/release-store';
import { releaseFromItem, releaseItem } from './dynamodb-release-item';
import { decodeCursor, encodeCursor } from './page-cursor';

type Key = Record<string, string>;

const artifactKey = (artifactId: string): Key => ({ pk: `ARTIFACT#${artifactId}`, sk: 'ARTIFACT' });
const releaseKey = (releaseId: string): Key => ({ pk: `RELEASE#${releaseId}`, sk: 'RELEASE' });
/**
 * Every release is also written, in the same transaction, to one listing partition sorted by
 * creation time, so `GET /releases` is a Query of that partition instead of a Scan of the whole
 * fleet table. Releases never change, so the copy can never disagree with the original.
 */
const LISTING_PK = 'RELEASES';
const listingKey = (release: Release): Key => ({
  pk: LISTING_PK,
  sk: `${release.createdAt}#${release.releaseId}`,
});

/**
 * ReleaseStore on the fleet table: one item per artifact (pk `ARTIFACT#<id>`, sk `ARTIFACT`) and
 * per release (pk `RELEASE#<id>`, sk `RELEASE`, plus its listing copy). Status changes are
 * conditional on the status they start from; releases are create-only.
 */
export class DynamoDbReleaseStore implements ReleaseStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async createArtifact(artifact: Artifact): Promise<void> {
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: { ...artifactKey(artifact.artifactId), entity: 'artifact', ...artifact },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async getArtifact(artifactId: string): Promise<Artifact | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: artifactKey(artifactId), ConsistentRead: true }),
    );
    return Item ? (withoutKeys(Item) as unknown as Artifact) : undefined;
  }

  async markSealing(artifactId: string, at: Date): Promise<Artifact | undefined> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: artifactKey(artifactId),
          UpdateExpression: 'SET #status = :sealing, completedAt = :at',
          ConditionExpression: '#status = :awaiting',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: {
            ':sealing': 'sealing',
            ':awaiting': 'awaiting-upload',
            ':at': at.toISOString(),
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return withoutKeys(Attributes ?? {}) as unknown as Artifact;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return this.getArtifact(artifactId);
      throw error;
    }
  }

  markReady(artifactId: string, digest: ArtifactDigest, at: Date): Promise<boolean> {
    return this.fromSealing(artifactId, {
      UpdateExpression:
        'SET #status = :ready, sha256 = :sha256, #size = :size, s3VersionId = :version, sealedAt = :at',
      ExpressionAttributeNames: { '#size': 'size' },
      ExpressionAttributeValues: {
        ':ready': 'ready',
        ':sha256': digest.sha256,
        ':size': digest.size,
        ':version': digest.s3VersionId,
        ':at': at.toISOString(),
      },
    });
  }

  markRejected(artifactId: string, reason: string, at: Date): Promise<boolean> {
    return this.fromSealing(artifactId, {
      UpdateExpression: 'SET #status = :rejected, rejectionReason = :reason, sealedAt = :at',
      ExpressionAttributeValues: { ':rejected': 'rejected', ':reason': reason, ':at': at.toISOString() },
    });
  }

  async createRelease(release: Release): Promise<void> {
    const item = { entity: 'release', ...releaseItem(release) };
    try {
      await this.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.tableName,
                Item: { ...releaseKey(release.releaseId), ...item },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
            {
              Put: {
                TableName: this.tableName,
                Item: { ...listingKey(release), ...item, entity: 'release-listing' },
                ConditionExpression: 'attribute_not_exists(pk)',
              },
            },
          ],
        }),
      );
    } catch (error) {
      const refused =
        error instanceof TransactionCanceledException &&
        (error.CancellationReasons ?? []).some((reason) => reason.Code === 'ConditionalCheckFailed');
      if (refused) throw new ReleaseAlreadyExistsError(release.releaseId);
      throw error;
    }
  }

  async getRelease(releaseId: string): Promise<Release | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: releaseKey(releaseId), ConsistentRead: true }),
    );
    return Item ? releaseFromItem(Item) : undefined;
  }

  async listReleases(query: ListReleasesQuery): Promise<ReleasePage> {
    const { Items, LastEvaluatedKey } = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :listing',
        ExpressionAttributeValues: { ':listing': LISTING_PK },
        ScanIndexForward: false,
        Limit: query.limit,
        ExclusiveStartKey:
          query.cursor === undefined ? undefined : decodeCursor<Key>(query.cursor, isListingCursor),
      }),
    );
    const items = (Items ?? []).map(releaseFromItem);
    return LastEvaluatedKey === undefined
      ? { items }
      : { items, nextCursor: encodeCursor(LastEvaluatedKey as Key) };
  }

  /** A status change that applies only while the artifact is `sealing`. */
  private async fromSealing(
    artifactId: string,
    update: {
      UpdateExpression: string;
      ExpressionAttributeNames?: Record<string, string>;
      ExpressionAttributeValues: Record<string, unknown>;
    },
  ): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: artifactKey(artifactId),
          UpdateExpression: update.UpdateExpression,
          ConditionExpression: '#status = :sealing',
          ExpressionAttributeNames: { ...update.ExpressionAttributeNames, '#status': 'status' },
          ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':sealing': 'sealing' },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function withoutKeys(item: Record<string, unknown>): Record<string, unknown> {
  const { pk: _pk, sk: _sk, entity: _entity, ...rest } = item;
  return rest;
}

const isListingCursor = (key: Record<string, unknown>) =>
  Object.keys(key).length === 2 && key.pk === LISTING_PK && typeof key.sk === 'string';
