/**
 * OTA status-event ingestion through the real use case and DynamoDB adapter, with the DynamoDB
 * client replaced by an in-process counter: events per second of our code path, and DynamoDB
 * writes per event (a conditional write that is refused still costs a write in DynamoDB).
 * The event mix repeats and reorders 20 % of events, as devices on bad links do.
 * Run: `npm run bench -- ingest-events`.
 */
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRolloutStore } from '../functions/adapters/dynamodb-rollout-store';
import type { OtaEventV1 } from '../functions/domain/ota-contract';
import { makeRecordOtaEvent } from '../functions/use-cases/rollouts/record-ota-event';
import { measure } from './measure';

const DEVICES = 2_000;
const STAGES = ['downloading', 'installing', 'rebooting', 'healthy'] as const;

/** Keeps each execution's lastSeq and answers UpdateItem like DynamoDB's condition would. */
function countingDynamo() {
  const lastSeq = new Map<string, number>();
  const calls: Record<string, number> = {};
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const name = command.constructor.name;
      calls[name] = (calls[name] ?? 0) + 1;
      const key = JSON.stringify(command.input.Key);
      const seq = (command.input.ExpressionAttributeValues as Record<string, number>)[':seq'] ?? 0;
      if ((lastSeq.get(key) ?? -1) >= seq) {
        throw new ConditionalCheckFailedException({ message: 'stale', $metadata: {} });
      }
      lastSeq.set(key, seq);
      return {};
    },
  };
  return { client: client as unknown as DynamoDBDocumentClient, calls };
}

function eventStream(): OtaEventV1[] {
  const events: OtaEventV1[] = [];
  for (let d = 0; d < DEVICES; d++) {
    STAGES.forEach((stage, i) => {
      events.push({
        schema: 'edgeops.ota-event.v1',
        eventId: randomUUID(),
        deviceId: `gw-${d}`,
        rolloutId: 'ro-bench',
        jobId: 'ro-bench-w0',
        stage,
        runningVersion: stage === 'healthy' ? '1.1.0' : '1.0.0',
        slot: stage === 'healthy' ? 'B' : 'A',
        at: Date.now(),
        seq: i + 1,
      });
    });
  }
  // 10 % duplicates and 10 % swapped neighbours.
  const noisy = [...events];
  for (let i = 0; i < events.length; i += 10) noisy.push(events[i] as OtaEventV1);
  for (let i = 5; i + 1 < noisy.length; i += 10)
    [noisy[i], noisy[i + 1]] = [noisy[i + 1] as OtaEventV1, noisy[i] as OtaEventV1];
  return noisy;
}

const { client, calls } = countingDynamo();
const record = makeRecordOtaEvent({ rollouts: new DynamoDbRolloutStore(client, 'bench') });
const events = eventStream();
const outcomes = { applied: 0, ignored: 0 };
const { ms, peakRssMb } = await measure(async () => {
  for (const event of events) outcomes[await record(event, event.deviceId)]++;
});
const writes = calls.UpdateCommand ?? 0;
console.log('OTA event ingestion (bench/ingest-events.ts)');
console.table([
  {
    events: events.length,
    applied: outcomes.applied,
    'ignored (dup/stale)': outcomes.ignored,
    'events/s': Math.round((events.length / ms) * 1000),
    'DynamoDB writes/event': (writes / events.length).toFixed(2),
    'writes/applied event': (writes / outcomes.applied).toFixed(2),
    'peak RSS MB': peakRssMb,
  },
]);
