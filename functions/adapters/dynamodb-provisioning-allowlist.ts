import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AllowlistEntry } from '../../contract/provisioning';
import type { AllowlistRecord, ClaimOutcome } from '../domain/provisioning-claim';
import type { AllowlistUploadResult, ProvisioningAllowlist } from '../ports/provisioning-allowlist';

/** Conditional writes in flight at once during an upload: well under a table's per-partition limits. */
const UPLOAD_CONCURRENCY = 25;

/**
 * ProvisioningAllowlist on its own table, one item per serial (partition key `serial`). An upload
 * is one conditional PutItem per entry (BatchWriteItem cannot be conditional, and a claimed entry
 * must never be replaced); a claim is one conditional UpdateItem, which DynamoDB serializes per
 * item, so two claims of one serial cannot both succeed.
 */
export class DynamoDbProvisioningAllowlist implements ProvisioningAllowlist {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async putEntries(entries: readonly AllowlistEntry[], now: Date): Promise<AllowlistUploadResult> {
    const stored: string[] = [];
    const alreadyClaimed: string[] = [];
    for (let i = 0; i < entries.length; i += UPLOAD_CONCURRENCY) {
      await Promise.all(
        entries.slice(i, i + UPLOAD_CONCURRENCY).map(async (entry) => {
          try {
            await this.client.send(
              new PutCommand({
                TableName: this.tableName,
                Item: { ...entry, uploadedAt: now.toISOString() },
                ConditionExpression: 'attribute_not_exists(claimCertificateId)',
              }),
            );
            stored.push(entry.serial);
          } catch (error) {
            if (!(error instanceof ConditionalCheckFailedException)) throw error;
            alreadyClaimed.push(entry.serial);
          }
        }),
      );
    }
    return { stored, alreadyClaimed };
  }

  async getEntry(serial: string): Promise<AllowlistRecord | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({ TableName: this.tableName, Key: { serial }, ConsistentRead: true }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  async claim(serial: string, certificateId: string, now: Date): Promise<ClaimOutcome> {
    try {
      const { Attributes } = await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { serial },
          UpdateExpression: 'SET claimCertificateId = :cert, claimedAt = if_not_exists(claimedAt, :now)',
          ConditionExpression:
            'attribute_exists(serial) AND (attribute_not_exists(claimCertificateId) OR claimCertificateId = :cert)',
          ExpressionAttributeValues: { ':cert': certificateId, ':now': now.toISOString() },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const entry = fromItem({
        ...Attributes,
        claimCertificateId: certificateId,
        claimedAt: Attributes?.claimedAt ?? now.toISOString(),
      });
      return Attributes?.claimCertificateId === certificateId
        ? { kind: 'already-claimed-by-this-certificate', entry }
        : { kind: 'claimed', entry };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Which condition failed: read it once (only refusals pay for this read).
      const entry = await this.getEntry(serial);
      return entry ? { kind: 'claimed-by-another-certificate' } : { kind: 'not-listed' };
    }
  }
}

function fromItem(item: Record<string, unknown>): AllowlistRecord {
  const { serial, site, region, hardwareType, uploadedAt, claimCertificateId, claimedAt } = item as Record<
    string,
    string | undefined
  >;
  return {
    serial: serial ?? '',
    site: site ?? '',
    region: region ?? '',
    hardwareType: hardwareType ?? '',
    uploadedAt: uploadedAt ?? '',
    ...(claimCertificateId && claimedAt ? { claim: { certificateId: claimCertificateId, claimedAt } } : {}),
  };
}
