import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbDeviceLifecycleStore } from '../../functions/adapters/dynamodb-device-lifecycle-store';
import { DynamoDbDeviceListing, planDeviceListing } from '../../functions/adapters/dynamodb-device-listing';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import type { Device } from '../../functions/domain/device';
import { matchesDeviceFilter } from '../../functions/domain/device-filter';
import { ListDevicesQuery } from '../../functions/operator-api/schemas';
import { parseInput } from '../../functions/shared/parse';

const device = (id: string, over: Partial<Device> = {}): Device => ({
  deviceId: id,
  hardwareType: 'rpi4',
  site: 'plant-a',
  region: 'eu',
  status: 'registered',
  registeredAt: '2026-11-01T00:00:00Z',
  connection: { state: 'connected' },
  ...over,
});
const quarantine = { reason: 'r', by: 'op', source: 'operator' as const, since: '2030-01-01T00:00:00Z' };

/** Records each command; answers with `reply(name, input)`. */
function recordingClient(reply: (name: string, input: Record<string, unknown>) => unknown = () => ({})) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      const answer = reply(command.constructor.name, command.input);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

describe('GET /devices?status=', () => {
  it('takes only quarantined or retired, with a clear error otherwise', () => {
    expect(parseInput(ListDevicesQuery, { status: 'quarantined' }, 'query')).toMatchObject({
      status: 'quarantined',
    });
    expect(() => parseInput(ListDevicesQuery, { status: 'active' }, 'query')).toThrow(
      /status: one of quarantined, retired/,
    );
  });

  it('reads the QUARANTINED or RETIRED partition, not the fleet', () => {
    expect(planDeviceListing({ status: 'quarantined', site: 'x' })).toEqual({
      index: 'lifecycle',
      status: 'quarantined',
    });
    expect(planDeviceListing({ status: 'retired' })).toEqual({ index: 'lifecycle', status: 'retired' });
  });

  it('lists registered devices (quarantined among them) by default, never retired ones', () => {
    const active = device('a');
    const held = device('q', { quarantine });
    const retired = device('r', { status: 'retired' });

    expect([active, held, retired].filter((d) => matchesDeviceFilter(d, {})).map((d) => d.deviceId)).toEqual([
      'a',
      'q',
    ]);
    expect(
      [active, held, retired]
        .filter((d) => matchesDeviceFilter(d, { status: 'quarantined' }))
        .map((d) => d.deviceId),
    ).toEqual(['q']);
    expect(
      [active, held, retired]
        .filter((d) => matchesDeviceFilter(d, { status: 'retired' }))
        .map((d) => d.deviceId),
    ).toEqual(['r']);
  });

  it('in memory: the same answer', async () => {
    const fleet = new InMemoryFleetStore();
    for (const d of [device('a'), device('q', { quarantine }), device('r', { status: 'retired' })])
      await fleet.createDevice(d);

    const page = await fleet.listDevices({ status: 'quarantined', limit: 10 });

    expect(page.items.map((d) => d.deviceId)).toEqual(['q']);
  });

  it('on DynamoDB: queries the partition, then reads the device items named by its entries', async () => {
    const { client, sent } = recordingClient((name) =>
      name === 'QueryCommand'
        ? { Items: [{ pk: 'QUARANTINED', sk: 'q1', entity: 'lifecycle-entry' }] }
        : { Responses: { fleet: [{ pk: 'DEVICE#q1', sk: 'DEVICE', ...device('q1', { quarantine }) }] } },
    );
    const listing = new DynamoDbDeviceListing(client, 'fleet', (item) => item as unknown as Device);

    const page = await listing.list({ status: 'quarantined', limit: 10 });

    expect(sent.map((c) => c.name)).toEqual(['QueryCommand', 'BatchGetCommand']);
    expect(sent[0]?.input).toMatchObject({
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeValues: { ':pk': 'QUARANTINED' },
    });
    expect(sent[0]?.input.IndexName).toBeUndefined();
    expect(page.items.map((d) => d.deviceId)).toEqual(['q1']);
  });
});

describe('DynamoDbDeviceLifecycleStore', () => {
  it('quarantines in one transaction: the registered device item and its QUARANTINED entry', async () => {
    const { client, sent } = recordingClient();

    expect(await new DynamoDbDeviceLifecycleStore(client, 'fleet').setQuarantine('d1', quarantine)).toBe(
      true,
    );

    expect(sent[0]?.name).toBe('TransactWriteCommand');
    expect(sent[0]?.input.TransactItems).toEqual([
      expect.objectContaining({
        Update: expect.objectContaining({
          Key: { pk: 'DEVICE#d1', sk: 'DEVICE' },
          UpdateExpression: 'SET quarantine = :quarantine',
          ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
        }),
      }),
      {
        Put: {
          TableName: 'fleet',
          Item: { pk: 'QUARANTINED', sk: 'd1', entity: 'lifecycle-entry', since: quarantine.since },
        },
      },
    ]);
  });

  it('retires in one transaction: status, the RETIRED entry, and no QUARANTINED entry', async () => {
    const { client, sent } = recordingClient();

    await new DynamoDbDeviceLifecycleStore(client, 'fleet').markRetired('d1', {
      reason: 'r',
      by: 'b',
      at: 't',
    });

    const items = sent[0]?.input.TransactItems as Record<string, { Key?: unknown; Item?: unknown }>[];
    expect(items.map((i) => Object.keys(i)[0])).toEqual(['Update', 'Put', 'Delete']);
    expect(items[1]?.Put?.Item).toMatchObject({ pk: 'RETIRED', sk: 'd1' });
    expect(items[2]?.Delete?.Key).toEqual({ pk: 'QUARANTINED', sk: 'd1' });
  });

  it('answers false when the device is not registered (the transaction is canceled on its condition)', async () => {
    const canceled = new TransactionCanceledException({
      message: 'canceled',
      $metadata: {},
      CancellationReasons: [{ Code: 'ConditionalCheckFailed' }, { Code: 'None' }],
    });
    const { client } = recordingClient(() => canceled);

    expect(await new DynamoDbDeviceLifecycleStore(client, 'fleet').setQuarantine('d1', undefined)).toBe(
      false,
    );
  });
});
