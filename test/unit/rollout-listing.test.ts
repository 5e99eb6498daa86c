import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbRolloutStore } from '../../functions/adapters/dynamodb-rollout-store';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import { encodeCursor } from '../../functions/adapters/page-cursor';
import { ValidationError } from '../../functions/domain/errors';
import type { DeviceExecution, Rollout } from '../../functions/domain/rollout';
import { EXECUTION_RETENTION_DAYS, ROLLOUT_RUN_MAX_DAYS } from '../../functions/domain/rollout-retention';
import { emptyCounts } from '../../functions/domain/wave-counters';

const rollout = (rolloutId: string, createdAt: string): Rollout => ({
  rolloutId,
  releaseId: 'rel-1.1.0',
  version: '1.1.0',
  operation: 'install',
  target: { filter: { region: 'eu' } },
  failurePolicy: 'halt',
  status: 'running',
  currentWave: -1,
  waves: [
    {
      index: 0,
      size: { percent: 100 },
      soakSeconds: 0,
      successThreshold: 100,
      maxFailures: 0,
      requireApproval: false,
      deviceCount: 1,
      status: 'pending',
    },
  ],
  createdAt,
  createdBy: 'ops',
  excludedCount: 0,
});

/** Records each command's name and input; answers with `reply`. */
function recordingClient(reply: (name: string, input: Record<string, unknown>) => unknown = () => ({})) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return reply(command.constructor.name, command.input);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

describe('DynamoDbRolloutStore listing', () => {
  it('writes the listing entry (id and creation time) in the same transaction as the rollout', async () => {
    const { client, sent } = recordingClient();
    const r = rollout('ro-000000000001', '2026-05-01T10:00:00.000Z');

    await new DynamoDbRolloutStore(client, 'fleet').createRollout(r, [emptyCounts()]);

    const transaction = sent.find((c) => c.name === 'TransactWriteCommand');
    expect(transaction?.input.TransactItems).toEqual([
      {
        Put: expect.objectContaining({
          Item: expect.objectContaining({ pk: 'ROLLOUT#ro-000000000001', sk: 'ROLLOUT', status: 'running' }),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      },
      {
        Put: {
          TableName: 'fleet',
          Item: {
            pk: 'ROLLOUTS',
            sk: '2026-05-01T10:00:00.000Z#ro-000000000001',
            entity: 'rollout-listing',
            rolloutId: 'ro-000000000001',
            createdAt: '2026-05-01T10:00:00.000Z',
          },
        },
      },
    ]);
    expect(
      sent.some((c) => c.name === 'PutCommand' && (c.input.Item as { sk?: string }).sk === 'ROLLOUT'),
    ).toBe(false);
  });

  it('lists by querying the ROLLOUTS partition newest first, then reads those rollouts, in that order', async () => {
    const older = rollout('ro-00000000000a', '2026-05-01T10:00:00.000Z');
    const newer = { ...rollout('ro-00000000000b', '2026-05-02T10:00:00.000Z'), status: 'succeeded' as const };
    const lastKey = { pk: 'ROLLOUTS', sk: `${older.createdAt}#${older.rolloutId}` };
    const { client, sent } = recordingClient((name) => {
      if (name === 'QueryCommand')
        return {
          Items: [newer, older].map((r) => ({ pk: 'ROLLOUTS', sk: 'x', rolloutId: r.rolloutId })),
          LastEvaluatedKey: lastKey,
        };
      // BatchGet answers in any order.
      return {
        Responses: {
          fleet: [older, newer].map((r) => ({
            pk: `ROLLOUT#${r.rolloutId}`,
            sk: 'ROLLOUT',
            entity: 'rollout',
            ...r,
          })),
        },
      };
    });

    const page = await new DynamoDbRolloutStore(client, 'fleet').listRollouts(2);

    expect(page.items.map((r) => [r.rolloutId, r.status])).toEqual([
      ['ro-00000000000b', 'succeeded'],
      ['ro-00000000000a', 'running'],
    ]);
    expect(page.nextCursor).toBe(encodeCursor(lastKey));
    expect(sent.map((c) => c.name)).toEqual(['QueryCommand', 'BatchGetCommand']);
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: 'pk = :listing',
      ExpressionAttributeValues: { ':listing': 'ROLLOUTS' },
      ScanIndexForward: false,
      Limit: 2,
    });
    expect(sent[1]?.input).toMatchObject({
      RequestItems: {
        fleet: {
          Keys: [
            { pk: 'ROLLOUT#ro-00000000000b', sk: 'ROLLOUT' },
            { pk: 'ROLLOUT#ro-00000000000a', sk: 'ROLLOUT' },
          ],
        },
      },
    });
  });

  it('goes on from a cursor it issued, and refuses one that names another partition', async () => {
    const { client, sent } = recordingClient((name) => (name === 'QueryCommand' ? { Items: [] } : {}));
    const store = new DynamoDbRolloutStore(client, 'fleet');
    const key = { pk: 'ROLLOUTS', sk: '2026-05-01T10:00:00.000Z#ro-00000000000a' };

    expect(await store.listRollouts(10, encodeCursor(key))).toEqual({ items: [] });
    expect(sent[0]?.input.ExclusiveStartKey).toEqual(key);
    await expect(
      store.listRollouts(10, encodeCursor({ pk: 'DEVICE#d1', sk: 'DEVICE' })),
    ).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('DynamoDbRolloutStore execution expiry', () => {
  it(`writes each execution with expiresAt ${EXECUTION_RETENTION_DAYS} days ahead, once`, async () => {
    const { client, sent } = recordingClient();
    const execution: DeviceExecution = {
      rolloutId: 'ro-000000000001',
      deviceId: 'd1',
      waveIndex: 0,
      hardwareType: 'rpi4',
      site: 's',
      stage: 'pending',
      lastSeq: -1,
    };
    const before = Math.floor(Date.now() / 1000);

    await new DynamoDbRolloutStore(client, 'fleet').addExecutions('ro-000000000001', [execution]);

    const batch = sent.find((c) => c.name === 'BatchWriteCommand')?.input.RequestItems as Record<
      string,
      { PutRequest: { Item: Record<string, unknown> } }[]
    >;
    const item = batch.fleet?.[0]?.PutRequest.Item;
    expect(item).toMatchObject({ sk: 'EXEC#000#d1', entity: 'execution' });
    const days = (Number(item?.expiresAt) - before) / 86_400;
    expect(days).toBeGreaterThanOrEqual(EXECUTION_RETENTION_DAYS);
    expect(days).toBeLessThan(EXECUTION_RETENTION_DAYS + 1);
  });

  it('keeps executions longer than any rollout may run', () => {
    expect(EXECUTION_RETENTION_DAYS).toBeGreaterThan(ROLLOUT_RUN_MAX_DAYS);
  });
});

describe('InMemoryRolloutStore listing', () => {
  it('pages newest first with the same cursors as the DynamoDB store', async () => {
    const store = new InMemoryRolloutStore();
    const created = ['01', '03', '02', '04', '05'].map((d) =>
      rollout(`ro-0000000000${d}`, `2026-05-${d}T00:00:00.000Z`),
    );
    for (const r of created) await store.createRollout(r, [emptyCounts()]);

    const first = await store.listRollouts(2);
    const second = await store.listRollouts(2, first.nextCursor);
    const third = await store.listRollouts(2, second.nextCursor);

    expect([first, second, third].flatMap((p) => p.items.map((r) => r.rolloutId.slice(-2)))).toEqual([
      '05',
      '04',
      '03',
      '02',
      '01',
    ]);
    expect(first.nextCursor).toBe(
      encodeCursor({ pk: 'ROLLOUTS', sk: '2026-05-04T00:00:00.000Z#ro-000000000004' }),
    );
    expect(third.nextCursor).toBeUndefined();
    await expect(store.listRollouts(2, 'not-a-cursor')).rejects.toBeInstanceOf(ValidationError);
  });
});
