import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { DynamoDbDeviceConfigStore } from '../../functions/adapters/dynamodb-device-config-store';
import { DynamoDbFleetStore } from '../../functions/adapters/dynamodb-fleet-store';
import { ValidationError } from '../../functions/domain/errors';

type Sent = { name: string; input: Record<string, unknown> };

/** Records each command's name and input; answers with `reply` (an Error is thrown). */
function recordingClient(reply: (sent: Sent, index: number) => unknown = () => ({})) {
  const sent: Sent[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const entry = { name: command.constructor.name, input: command.input };
      sent.push(entry);
      const answer = reply(entry, sent.length - 1);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

const conditionFailed = () => new ConditionalCheckFailedException({ message: 'failed', $metadata: {} });
const report = (seq: number, revision = 'aaaaaaaaaaaaaaaa', rejected = {}) => ({
  revision,
  applied: {},
  rejected,
  seq,
  reportedAt: '2026-11-28T00:00:00.000Z',
});

describe('DynamoDbDeviceConfigStore', () => {
  it('writes a shared layer whole and bumps its version, keeping a site layer out of the bySite index', async () => {
    const { client, sent } = recordingClient(() => ({ Attributes: { version: 4 } }));
    const store = new DynamoDbDeviceConfigStore(client, 'fleet', () => new Date('2026-11-28T00:00:00Z'));

    const layer = await store.putSharedLayer({ layer: 'site', site: 'plant-a' }, { logLevel: 'info' });

    expect(layer).toEqual({
      values: { logLevel: 'info' },
      version: 4,
      updatedAt: '2026-11-28T00:00:00.000Z',
    });
    expect(sent[0]?.input).toMatchObject({
      Key: { pk: 'SITE#plant-a', sk: 'CONFIG' },
      ExpressionAttributeValues: { ':values': { logLevel: 'info' }, ':site': 'plant-a', ':one': 1 },
    });
    expect(String(sent[0]?.input.UpdateExpression)).toMatch(/siteName = :site ADD #version :one$/);
    expect(JSON.stringify(sent[0]?.input)).not.toMatch(/"site"\s*=/);
  });

  it('records a desired revision only while the device layer is the one merged, and sets the drift flag to its site', async () => {
    const { client, sent } = recordingClient((_, i) => (i === 1 ? conditionFailed() : {}));
    const store = new DynamoDbDeviceConfigStore(client, 'fleet');

    expect(await store.setDesired('gw-1', { revision: 'r1', layerVersion: 3, drifting: true })).toBe(true);
    expect(await store.setDesired('gw-1', { revision: 'r1', layerVersion: 0, drifting: false })).toBe(false);

    expect(sent[0]?.input).toMatchObject({
      UpdateExpression: 'SET configDesiredRevision = :rev, configDrift = site',
      ConditionExpression: 'attribute_exists(pk) AND #status = :registered AND configLayerVersion = :lv',
      ExpressionAttributeValues: { ':rev': 'r1', ':registered': 'registered', ':lv': 3 },
    });
    expect(sent[1]?.input).toMatchObject({
      UpdateExpression: 'SET configDesiredRevision = :rev REMOVE configDrift',
      ConditionExpression:
        'attribute_exists(pk) AND #status = :registered AND attribute_not_exists(configLayerVersion)',
    });
  });

  it('stores a newer report, then clears the drift flag when it is the desired revision with nothing rejected', async () => {
    const { client, sent } = recordingClient((_, i) =>
      i === 0 ? { Attributes: { configDesiredRevision: 'aaaaaaaaaaaaaaaa', site: 'plant-a' } } : {},
    );
    const store = new DynamoDbDeviceConfigStore(client, 'fleet');

    expect(await store.recordReport('gw-1', report(7))).toBe(true);

    expect(sent[0]?.input).toMatchObject({
      UpdateExpression: 'SET configReport = :report',
      ConditionExpression:
        'attribute_exists(pk) AND #status = :registered AND (attribute_not_exists(configReport) OR configReport.seq < :seq)',
    });
    expect(sent[1]?.input).toMatchObject({
      UpdateExpression: 'REMOVE configDrift',
      ConditionExpression: 'configReport.seq = :seq AND configDesiredRevision = :rev',
      ExpressionAttributeValues: { ':seq': 7, ':rev': 'aaaaaaaaaaaaaaaa' },
    });
  });

  it('keeps the drift flag for a report with a rejected key', async () => {
    const { client, sent } = recordingClient((_, i) =>
      i === 0 ? { Attributes: { configDesiredRevision: 'aaaaaaaaaaaaaaaa' } } : {},
    );
    const store = new DynamoDbDeviceConfigStore(client, 'fleet');

    await store.recordReport('gw-1', report(2, 'aaaaaaaaaaaaaaaa', { telemetry: 'not applied' }));

    expect(sent[1]?.input.UpdateExpression).toBe('SET configDrift = site');
  });

  it('writes nothing more for a stale or unknown device report', async () => {
    const { client, sent } = recordingClient(() => conditionFailed());
    const store = new DynamoDbDeviceConfigStore(client, 'fleet');

    expect(await store.recordReport('gw-1', report(1))).toBe(false);
    expect(sent).toHaveLength(1);
  });

  it('pages the drift index of one site and refuses a cursor issued for another', async () => {
    const key = { configDrift: 'plant-a', deviceId: 'gw-2', pk: 'DEVICE#gw-2', sk: 'DEVICE' };
    const { client, sent } = recordingClient(() => ({
      Items: [{ deviceId: 'gw-2', configDesiredRevision: 'r2', configReport: report(1, 'r1') }],
      LastEvaluatedKey: key,
    }));
    const store = new DynamoDbDeviceConfigStore(client, 'fleet');

    const page = await store.listDrifting('plant-a', 10);

    expect(page.items).toEqual([
      { deviceId: 'gw-2', desiredRevision: 'r2', reportedRevision: 'r1', rejected: {} },
    ]);
    expect(sent[0]?.input).toMatchObject({
      IndexName: 'byConfigDrift',
      KeyConditionExpression: 'configDrift = :site',
    });
    await store.listDrifting('plant-a', 10, page.nextCursor);
    expect(sent[1]?.input.ExclusiveStartKey).toEqual(key);
    await expect(store.listDrifting('plant-b', 10, page.nextCursor)).rejects.toThrow(ValidationError);
  });
});

describe('DynamoDbFleetStore and the device layer', () => {
  it("shows the device layer's bandwidthPolicy key as the device's own policy", async () => {
    const policy = { onMetered: 'wait', timeZone: 'UTC' };
    const { client } = recordingClient(() => ({
      Item: {
        pk: 'DEVICE#gw-1',
        sk: 'DEVICE',
        deviceId: 'gw-1',
        status: 'registered',
        configLayer: { bandwidthPolicy: policy, logLevel: 'info' },
      },
    }));

    const device = await new DynamoDbFleetStore(client, 'fleet').getDevice('gw-1');

    expect(device?.bandwidthPolicy).toEqual(policy);
  });
});
