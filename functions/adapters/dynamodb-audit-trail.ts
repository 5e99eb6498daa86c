import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditEntry } from '../domain/audit';
import { type AuditDayPage, type AuditDayRead, type AuditTrail, auditSortKey } from '../ports/audit-trail';

/** Days an entry is kept before DynamoDB's TTL removes it. */
export const AUDIT_RETENTION_DAYS = 400;

/** The partition of a day: `AUDIT#2026-11-28`. */
export const auditPartition = (day: string) => `AUDIT#${day}`;

/**
 * AuditTrail on its own DynamoDB table: pk `AUDIT#<yyyy-mm-dd>`, sk `<at>#<requestId>`. Appends
 * are conditional puts (`attribute_not_exists(pk)`), so an entry once written is never replaced;
 * nothing in the stack may update or delete one (only PutItem and Query are ever granted), and
 * `expiresAt` lets TTL drop it after AUDIT_RETENTION_DAYS. The request body summary is kept as a
 * JSON string: it holds whatever the caller sent, which need not fit DynamoDB's types.
 */
export class DynamoDbAuditTrail implements AuditTrail {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async append(entry: AuditEntry): Promise<void> {
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            pk: auditPartition(entry.at.slice(0, 10)),
            sk: auditSortKey(entry),
            at: entry.at,
            requestId: entry.requestId,
            actor: entry.actor.username,
            actorSub: entry.actor.sub ?? undefined,
            method: entry.method,
            route: entry.route,
            pathParameters: entry.pathParameters,
            body: JSON.stringify(entry.body),
            status: entry.status,
            deviceId: entry.deviceId ?? undefined,
            rolloutId: entry.rolloutId ?? undefined,
            expiresAt: Math.floor(Date.parse(entry.at) / 1000) + AUDIT_RETENTION_DAYS * 86_400,
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (error) {
      // The same request recorded already (a retried write whose first attempt landed): keep it.
      if (error instanceof ConditionalCheckFailedException) return;
      throw error;
    }
  }

  async readDay(read: AuditDayRead): Promise<AuditDayPage> {
    const filters: string[] = [];
    const values: Record<string, unknown> = {
      ':pk': auditPartition(read.day),
      ':low': read.from.toISOString(),
      ':high': `${read.to.toISOString()}#\uffff`,
    };
    if (read.filter.actor !== undefined) {
      filters.push('(actor = :actor OR actorSub = :actor)');
      values[':actor'] = read.filter.actor;
    }
    if (read.filter.deviceId !== undefined) {
      filters.push('deviceId = :deviceId');
      values[':deviceId'] = read.filter.deviceId;
    }
    if (read.filter.rolloutId !== undefined) {
      filters.push('rolloutId = :rolloutId');
      values[':rolloutId'] = read.filter.rolloutId;
    }
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
        ...(filters.length > 0 ? { FilterExpression: filters.join(' AND ') } : {}),
        ExpressionAttributeValues: values,
        ScanIndexForward: false,
        Limit: read.limit,
        ...(read.after === undefined
          ? {}
          : { ExclusiveStartKey: { pk: auditPartition(read.day), sk: read.after } }),
      }),
    );
    const next = page.LastEvaluatedKey?.sk;
    return {
      items: (page.Items ?? []).map(entryOf),
      read: page.ScannedCount ?? page.Items?.length ?? 0,
      ...(typeof next === 'string' ? { next } : {}),
    };
  }
}

function entryOf(item: Record<string, unknown>): AuditEntry {
  const text = (key: string) => (typeof item[key] === 'string' ? (item[key] as string) : null);
  let body: unknown = null;
  try {
    body = JSON.parse(String(item.body ?? 'null'));
  } catch {}
  return {
    at: String(item.at),
    requestId: String(item.requestId),
    actor: { username: String(item.actor), sub: text('actorSub') },
    method: String(item.method),
    route: String(item.route),
    pathParameters: (item.pathParameters ?? {}) as Record<string, string>,
    body,
    status: Number(item.status),
    deviceId: text('deviceId'),
    rolloutId: text('rolloutId'),
  };
}
