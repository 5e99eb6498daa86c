import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { BandwidthPolicy } from '../../contract/bandwidth-policy';
import { DynamoDbBandwidthPolicyStore } from '../../functions/adapters/dynamodb-bandwidth-policy-store';

const POLICY = BandwidthPolicy.parse({ onMetered: 'wait', timeZone: 'UTC' });

/** Records each command's name and input; answers with `reply`. */
function recordingClient(reply: (name: string) => unknown = () => ({})) {
  const sent: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      sent.push({ name: command.constructor.name, input: command.input });
      const answer = reply(command.constructor.name);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, sent };
}

describe('DynamoDbBandwidthPolicyStore', () => {
  it("sets a device's policy only on a registered device item, and removes it with REMOVE", async () => {
    const { client, sent } = recordingClient();
    const store = new DynamoDbBandwidthPolicyStore(client, 'fleet');

    expect(await store.setDevicePolicy('gw-1', POLICY)).toBe(true);
    expect(await store.setDevicePolicy('gw-1', undefined)).toBe(true);

    expect(sent.map((c) => c.name)).toEqual(['UpdateCommand', 'UpdateCommand']);
    expect(sent[0]?.input).toMatchObject({
      Key: { pk: 'DEVICE#gw-1', sk: 'DEVICE' },
      UpdateExpression: 'SET bandwidthPolicy = :policy',
      ConditionExpression: 'attribute_exists(pk) AND #status = :registered',
      ExpressionAttributeValues: { ':registered': 'registered', ':policy': POLICY },
    });
    expect(sent[1]?.input).toMatchObject({ UpdateExpression: 'REMOVE bandwidthPolicy' });
    expect(sent[1]?.input.ExpressionAttributeValues).toEqual({ ':registered': 'registered' });
  });

  it('answers false for a device that is not there', async () => {
    const failed = new ConditionalCheckFailedException({ message: 'no', $metadata: {} });
    const { client } = recordingClient(() => failed);

    expect(await new DynamoDbBandwidthPolicyStore(client, 'fleet').setDevicePolicy('gw-x', POLICY)).toBe(
      false,
    );
  });

  it('keeps a site item out of the bySite index (no `site` attribute) and deletes it on removal', async () => {
    const { client, sent } = recordingClient((name) =>
      name === 'GetCommand' ? { Item: { bandwidthPolicy: POLICY } } : {},
    );
    const store = new DynamoDbBandwidthPolicyStore(client, 'fleet', () => new Date('2026-11-01T00:00:00Z'));

    await store.setSitePolicy('plant-a', POLICY);
    expect(await store.getSitePolicy('plant-a')).toEqual(POLICY);
    await store.setSitePolicy('plant-a', undefined);

    expect(sent.map((c) => c.name)).toEqual(['PutCommand', 'GetCommand', 'DeleteCommand']);
    expect(sent[0]?.input.Item).toEqual({
      pk: 'SITE#plant-a',
      sk: 'SITE',
      entity: 'site',
      siteName: 'plant-a',
      bandwidthPolicy: POLICY,
      updatedAt: '2026-11-01T00:00:00.000Z',
    });
    expect(sent[1]?.input).toMatchObject({ Key: { pk: 'SITE#plant-a', sk: 'SITE' }, ConsistentRead: true });
    expect(sent[2]?.input).toMatchObject({ Key: { pk: 'SITE#plant-a', sk: 'SITE' } });
  });
});
