import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { type AlertV1, alertId } from '../../contract/telemetry';
import {
  DEVICE_ALERT_DETAIL_TYPE,
  EventBridgeAlertNotifier,
  FLEET_EVENT_SOURCE,
} from '../../functions/adapters/eventbridge-alert-notifier';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { InMemoryTelemetryStore } from '../../functions/adapters/in-memory-telemetry-store';
import { makeAlertBatch } from '../../functions/device-events/alert-batch';
import { newDevice } from '../../functions/domain/device';
import type { EventEntry } from '../../functions/shared/aws-api/events';
import { makeRecordAlert } from '../../functions/use-cases/record-alert';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const AT = Date.parse('2026-03-01T11:59:58.000Z');

const alert = (overrides: Partial<AlertV1> = {}): AlertV1 => ({
  v: 1,
  alertId: alertId(AT, 'cpu-hot', 'raised'),
  kind: 'threshold',
  ruleId: 'cpu-hot',
  state: 'raised',
  severity: 'critical',
  at: AT,
  firmwareVersion: '1.0.0',
  metric: 'cpu.percent',
  value: 97.5,
  op: '>',
  threshold: 90,
  ...overrides,
});

const sqsEvent = (...messages: { id: string; body: unknown }[]): SQSEvent => ({
  Records: messages.map(({ id, body }, i) => ({
    messageId: id,
    receiptHandle: `r${i}`,
    body: typeof body === 'string' ? body : JSON.stringify(body),
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: '1767225600000',
      SenderId: 'AROAEXAMPLE',
      ApproximateFirstReceiveTimestamp: '1767225600000',
    },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:AlertQueue',
    awsRegion: 'eu-west-1',
  })),
});

async function setUp() {
  const fleet = new InMemoryFleetStore();
  await fleet.createDevice(
    newDevice({ deviceId: 'dev-1', hardwareType: 'rpi4', site: 'plant-a', region: 'eu' }, NOW),
  );
  await fleet.completeRegistration('dev-1', 'cert');
  const store = new InMemoryTelemetryStore(fleet);
  const sent: EventEntry[] = [];
  let failEvents = 0;
  const notifier = new EventBridgeAlertNotifier({
    putEvents: async (entries) => {
      if (failEvents > 0) {
        failEvents--;
        throw new Error('EventBridge is unavailable (test)');
      }
      sent.push(...entries);
    },
  });
  const handle = makeAlertBatch({
    recordAlert: makeRecordAlert({ store, notifier, clock: { now: () => NOW } }),
  });
  return { store, sent, handle, failNextEvent: () => failEvents++ };
}

describe('recording device alerts', () => {
  it('stores the alert under the device and announces it on EventBridge with where the device is', async () => {
    const { store, sent, handle } = await setUp();

    const response = await handle(sqsEvent({ id: 'm1', body: { ...alert(), thingName: 'dev-1' } }));

    expect(response).toEqual({ batchItemFailures: [] });
    expect([...store.alerts.values()]).toEqual([
      {
        deviceId: 'dev-1',
        alert: alert(),
        receivedAt: NOW.toISOString(),
        expiresAt: Math.floor(NOW.getTime() / 1000) + 90 * 86_400,
        ingestMessageId: 'm1',
      },
    ]);
    expect(sent).toEqual([
      {
        source: FLEET_EVENT_SOURCE,
        detailType: DEVICE_ALERT_DETAIL_TYPE,
        detail: {
          ...alert(),
          deviceId: 'dev-1',
          site: 'plant-a',
          region: 'eu',
          hardwareType: 'rpi4',
          receivedAt: NOW.toISOString(),
        },
      },
    ]);
    expect(FLEET_EVENT_SOURCE).toBe('edgeops.fleet');
    expect(DEVICE_ALERT_DETAIL_TYPE).toBe('Device Alert');
  });

  it('writes and announces nothing for a resent alert (another message)', async () => {
    const { store, sent, handle } = await setUp();
    await handle(sqsEvent({ id: 'm1', body: { ...alert(), thingName: 'dev-1' } }));
    const writes = store.writes;

    await handle(sqsEvent({ id: 'm2', body: { ...alert(), thingName: 'dev-1' } }));

    expect(store.writes).toBe(writes);
    expect(sent).toHaveLength(1);
  });

  it('retries the message when EventBridge fails, and the retry announces it', async () => {
    const { store, sent, handle, failNextEvent } = await setUp();
    failNextEvent();
    const event = sqsEvent({ id: 'm1', body: { ...alert(), thingName: 'dev-1' } });

    // Every record of the batch failed: the whole batch goes back to the queue.
    await expect(handle(event)).rejects.toThrow(/All records failed/);
    const retried = await handle(event);

    expect(retried).toEqual({ batchItemFailures: [] });
    expect(sent).toHaveLength(1);
    expect(store.alerts.size).toBe(1);
  });

  it('drops malformed alerts, alerts of unknown devices and payloads naming another device', async () => {
    const { store, sent, handle } = await setUp();

    const response = await handle(
      sqsEvent(
        { id: 'm1', body: { ...alert(), thingName: 'ghost' } },
        { id: 'm2', body: { ...alert({ alertId: 'nope' }), thingName: 'dev-1' } },
        { id: 'm3', body: { ...alert(), severity: 'meh', thingName: 'dev-1' } },
        { id: 'm4', body: { ...alert(), deviceId: 'other', thingName: 'dev-1' } },
        { id: 'm5', body: '{' },
      ),
    );

    expect(response).toEqual({ batchItemFailures: [] });
    expect(store.alerts.size).toBe(0);
    expect(sent).toEqual([]);
  });

  it('keeps raised and cleared as two alerts', async () => {
    const { store, sent, handle } = await setUp();

    await handle(
      sqsEvent(
        { id: 'm1', body: { ...alert(), thingName: 'dev-1' } },
        {
          id: 'm2',
          body: {
            ...alert({ alertId: alertId(AT + 5000, 'cpu-hot', 'cleared'), state: 'cleared' }),
            thingName: 'dev-1',
          },
        },
      ),
    );

    expect(store.alerts.size).toBe(2);
    expect(sent.map((e) => (e.detail as AlertV1).state).sort()).toEqual(['cleared', 'raised']);
  });
});
