import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import {
  COMMAND_STATUSES,
  type CommandStatus,
  type CommandTransition,
  type DeviceCommand,
  TERMINAL_COMMAND_STATUSES,
} from '../domain/device-command';
import type { CommandPage, CommandStore } from '../ports/command-store';
import { decodeCursor, encodeCursor } from './page-cursor';

const COMMAND_PREFIX = 'COMMAND#';
const devicePk = (deviceId: string) => `DEVICE#${deviceId}`;
const commandKey = (deviceId: string, commandId: string) => ({
  pk: devicePk(deviceId),
  sk: `${COMMAND_PREFIX}${commandId}`,
});

/** How long a command's record (its audit) is kept: the table's TTL deletes it after this. */
export const COMMAND_RETENTION_DAYS = 365;

/**
 * CommandStore on the fleet table: `COMMAND#<commandId>` items under the device's partition
 * (`DEVICE#<id>`), so a device's commands are one Query, newest first (ids sort by time), and
 * never a scan of the fleet. They carry no `site`, `cohort` or `failedKey`, so no index holds
 * them, and their `entity` is `command`. Every status change is one conditional update: the
 * status it replaces must be one that `mayTransition` allows.
 */
export class DynamoDbCommandStore implements CommandStore {
  constructor(
    private readonly client: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async create(command: DeviceCommand): Promise<void> {
    const { expiresAt, ...rest } = command;
    await this.client.send(
      new PutCommand({
        TableName: this.tableName,
        Item: {
          ...commandKey(command.deviceId, command.commandId),
          entity: 'command',
          ...rest,
          commandExpiresAt: expiresAt,
          // The table's TTL attribute (epoch seconds): the audit record goes after its retention.
          expiresAt: Math.floor(Date.parse(command.requestedAt) / 1000) + COMMAND_RETENTION_DAYS * 86_400,
        },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
  }

  async get(deviceId: string, commandId: string): Promise<DeviceCommand | undefined> {
    const { Item } = await this.client.send(
      new GetCommand({
        TableName: this.tableName,
        Key: commandKey(deviceId, commandId),
        ConsistentRead: true,
      }),
    );
    return Item ? fromItem(Item) : undefined;
  }

  async list(deviceId: string, query: { limit: number; cursor?: string }): Promise<CommandPage> {
    const pk = devicePk(deviceId);
    const start = query.cursor
      ? decodeCursor<{ pk: string; sk: string }>(
          query.cursor,
          (key) =>
            Object.keys(key).length === 2 &&
            key.pk === pk &&
            typeof key.sk === 'string' &&
            key.sk.startsWith(COMMAND_PREFIX),
        )
      : undefined;
    const page = await this.client.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': pk, ':prefix': COMMAND_PREFIX },
        ScanIndexForward: false,
        Limit: query.limit,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    const last = page.LastEvaluatedKey;
    return {
      items: (page.Items ?? []).map(fromItem),
      ...(last ? { nextCursor: encodeCursor({ pk: String(last.pk), sk: String(last.sk) }) } : {}),
    };
  }

  async transition(deviceId: string, commandId: string, transition: CommandTransition): Promise<boolean> {
    // The statuses `transition.status` may replace (domain/device-command.ts mayTransition).
    const from = COMMAND_STATUSES.filter(
      (s) => !TERMINAL_COMMAND_STATUSES.includes(s) && s !== transition.status,
    ) as CommandStatus[];
    if (from.length === 0 || transition.status === 'QUEUED') return false;
    const at = transition.at.toISOString();
    const values: Record<string, unknown> = { ':status': transition.status, ':at': at };
    from.forEach((s, i) => {
      values[`:from${i}`] = s;
    });
    const sets = ['#status = :status', 'updatedAt = :at'];
    if (transition.status === 'IN_PROGRESS') sets.push('startedAt = if_not_exists(startedAt, :at)');
    else sets.push('completedAt = :at');
    if (transition.statusReason !== undefined) {
      sets.push('statusReason = :reason');
      values[':reason'] = transition.statusReason;
    }
    if (transition.result !== undefined) {
      sets.push('#result = :result');
      values[':result'] = transition.result;
    }
    try {
      await this.client.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: commandKey(deviceId, commandId),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(pk) AND #status IN (${from.map((_, i) => `:from${i}`).join(', ')})`,
          ExpressionAttributeNames: {
            '#status': 'status',
            ...(transition.result !== undefined ? { '#result': 'result' } : {}),
          },
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function fromItem(item: Record<string, unknown>): DeviceCommand {
  const { pk: _pk, sk: _sk, entity: _entity, expiresAt: _ttl, commandExpiresAt, ...rest } = item;
  return { ...(rest as Omit<DeviceCommand, 'expiresAt'>), expiresAt: String(commandExpiresAt) };
}
