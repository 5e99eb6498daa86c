import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import {
  BY_COHORT_INDEX,
  DynamoDbTelemetryBaseline,
} from '../../functions/adapters/dynamodb-telemetry-baseline';

type Sent = { name: string; input: Record<string, unknown> };

/** Records each command; answers with `reply(name, input, call number)`. */
function recordingClient(reply: (name: string, input: Record<string, unknown>, call: number) => unknown) {
  const sent: Sent[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      return reply(command.constructor.name, command.input, sent.length);
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

const deviceItem = (deviceId: string, extra: Record<string, unknown> = {}) => ({
  deviceId,
  region: 'eu',
  site: 'site-a',
  hardwareType: 'gw-v2',
  telemetryVersion: '1.1.0',
  healthAt: '2026-11-01T12:00:00.000Z',
  metrics: { 'memory.used_mib': { p95: 182, mean: 170, max: 190, sum: 10200, count: 60 } },
  ...extra,
});

describe('DynamoDbTelemetryBaseline', () => {
  it("reads updated devices' items by key, only the attributes a gate needs", async () => {
    const { client, sent } = recordingClient(() => ({
      Responses: { fleet: [deviceItem('gw-1', { telemetrySeconds: 300 })] },
    }));

    const devices = await new DynamoDbTelemetryBaseline(client, 'fleet').latestOfDevices(['gw-1', 'gw-1']);

    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      name: 'BatchGetCommand',
      input: { RequestItems: { fleet: { Keys: [{ pk: 'DEVICE#gw-1', sk: 'DEVICE' }] } } },
    });
    expect(devices).toEqual([
      {
        deviceId: 'gw-1',
        region: 'eu',
        site: 'site-a',
        hardwareType: 'gw-v2',
        version: '1.1.0',
        healthAt: '2026-11-01T12:00:00.000Z',
        windowSeconds: 300,
        metrics: { 'memory.used_mib': { p95: 182, mean: 170, max: 190, sum: 10200 } },
      },
    ]);
  });

  it('reads again the keys DynamoDB left unprocessed', async () => {
    const { client, sent } = recordingClient((_name, _input, call) =>
      call === 1
        ? {
            Responses: { fleet: [deviceItem('gw-1')] },
            UnprocessedKeys: { fleet: { Keys: [{ pk: 'DEVICE#gw-2', sk: 'DEVICE' }] } },
          }
        : { Responses: { fleet: [deviceItem('gw-2')] } },
    );

    const devices = await new DynamoDbTelemetryBaseline(client, 'fleet').latestOfDevices(['gw-1', 'gw-2']);

    expect(devices.map((d) => d.deviceId)).toEqual(['gw-1', 'gw-2']);
    expect(sent).toHaveLength(2);
    expect(sent[1]?.input).toMatchObject({
      RequestItems: { fleet: { Keys: [{ pk: 'DEVICE#gw-2', sk: 'DEVICE' }] } },
    });
  });

  it('refuses to read more than 100 devices at once', async () => {
    const { client, sent } = recordingClient(() => ({}));
    const ids = Array.from({ length: 101 }, (_, i) => `gw-${i}`);

    await expect(new DynamoDbTelemetryBaseline(client, 'fleet').latestOfDevices(ids)).rejects.toThrow(
      /at most 100/,
    );
    expect(sent).toEqual([]);
  });

  it('reads a cohort with one Query page of byCohort, and leaves out malformed numbers', async () => {
    const { client, sent } = recordingClient(() => ({
      Items: [
        {
          deviceId: 'gw-7',
          healthAt: '2026-11-01T11:59:00.000Z',
          metrics: { 'memory.used_mib': { p95: 128, max: 'x' } },
        },
        { deviceId: 'gw-8' },
      ],
      LastEvaluatedKey: { cohort: 'c', deviceId: 'gw-8' },
    }));

    const devices = await new DynamoDbTelemetryBaseline(client, 'fleet').latestOfCohort(
      { region: 'eu', site: 'site-a', hardwareType: 'gw-v2', version: '1.0.0' },
      100,
    );

    expect(sent).toEqual([
      {
        name: 'QueryCommand',
        input: {
          TableName: 'fleet',
          IndexName: BY_COHORT_INDEX,
          KeyConditionExpression: 'cohort = :cohort',
          ExpressionAttributeValues: { ':cohort': 'eu#site-a#gw-v2#1.0.0' },
          Limit: 100,
        },
      },
    ]);
    expect(devices).toEqual([
      {
        deviceId: 'gw-7',
        version: '1.0.0',
        healthAt: '2026-11-01T11:59:00.000Z',
        metrics: { 'memory.used_mib': { p95: 128 } },
      },
      { deviceId: 'gw-8', version: '1.0.0', metrics: {} },
    ]);
  });
});
