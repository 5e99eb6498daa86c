/**
 * OTA event ingestion through the batched path: the events a fleet publishes, as the OTA rule's
 * queue hands them to the Lambda (SQS batches of 1, 10 or 100 messages), through the real batch
 * handler (Powertools batch, zod at the edge, the use case) on the in-memory rollout store.
 *
 * It measures our code's cost per batch and per event, and Lambda invocations per device event
 * for each batch size: 1 is the old direct rule → Lambda path (one invocation per event), 10 is
 * what local AWS hands a mapping, 100 the aws stage's batch. It does not measure DynamoDB
 * latency, Lambda start-up or SQS. Under a light load a mapping invokes with fewer events
 * than its batch size, so the invocation counts are those of a burst.
 * The event mix repeats and reorders 20 % of events, as devices on bad links do.
 * Run: `npm run bench -- ingest-events`.
 */
import { randomUUID } from 'node:crypto';
import type { SQSEvent } from 'aws-lambda';
import type { OtaEventV1 } from '../contract/ota';
import { InMemoryRolloutStore } from '../functions/adapters/in-memory-rollout-store';
import { makeOtaEventBatch } from '../functions/device-events/ota-event-batch';
import type { DeviceExecution, Rollout } from '../functions/domain/rollout';
import { countsOf } from '../functions/domain/wave-counters';
import { logger } from '../functions/shared/observability';
import { makeRecordOtaEvent } from '../functions/use-cases/rollouts/record-ota-event';
import { measure } from './measure';

const DEVICES = 2_000;
const ROLLOUT = 'ro-bench';
const STAGES = ['downloading', 'installing', 'rebooting', 'healthy'] as const;
const BATCH_SIZES = [1, 10, 100];

// One log line per event would measure the terminal, not the handler.
logger.setLogLevel('ERROR');

function eventStream(): OtaEventV1[] {
  const events: OtaEventV1[] = [];
  for (let d = 0; d < DEVICES; d++) {
    STAGES.forEach((stage, i) => {
      events.push({
        schema: 'edgeops.ota-event.v1',
        eventId: randomUUID(),
        deviceId: `gw-${d}`,
        rolloutId: ROLLOUT,
        jobId: `${ROLLOUT}-w0`,
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

/** A store holding the rollout, one wave, with every device's execution queued. */
async function rolloutStore() {
  const rollout: Rollout = {
    rolloutId: ROLLOUT,
    releaseId: 'rel-1.1.0',
    version: '1.1.0',
    operation: 'install',
    target: { filter: {} },
    failurePolicy: 'halt',
    status: 'running',
    waves: [
      {
        index: 0,
        size: { percent: 100 },
        soakSeconds: 0,
        successThreshold: 100,
        maxFailures: 0,
        requireApproval: false,
        deviceCount: DEVICES,
        status: 'running',
      },
    ],
    currentWave: 0,
    createdAt: new Date().toISOString(),
    createdBy: 'bench',
    excludedCount: 0,
  };
  const executions: DeviceExecution[] = Array.from({ length: DEVICES }, (_, d) => ({
    rolloutId: ROLLOUT,
    deviceId: `gw-${d}`,
    waveIndex: 0,
    hardwareType: 'rpi4',
    site: 'bench',
    stage: 'queued',
    lastSeq: 0,
  }));
  const store = new InMemoryRolloutStore();
  await store.createRollout(rollout, [countsOf(executions)]);
  await store.addExecutions(ROLLOUT, executions);
  return store;
}

/** The events as the OTA rule sends them (with `thingName`), in SQS batches of `size`. */
function sqsBatches(events: readonly OtaEventV1[], size: number): SQSEvent[] {
  const batches: SQSEvent[] = [];
  for (let i = 0; i < events.length; i += size) {
    batches.push({
      Records: events.slice(i, i + size).map((event, j) => ({
        messageId: String(i + j),
        receiptHandle: String(i + j),
        body: JSON.stringify({ ...event, thingName: event.deviceId }),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(event.at),
          SenderId: 'bench',
          ApproximateFirstReceiveTimestamp: String(event.at),
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:eu-west-1:000000000000:bench',
        awsRegion: 'eu-west-1',
      })),
    });
  }
  return batches;
}

const events = eventStream();
const rows = [];
for (const batchSize of BATCH_SIZES) {
  const store = await rolloutStore();
  const handle = makeOtaEventBatch({ recordOtaEvent: makeRecordOtaEvent({ rollouts: store }) });
  const batches = sqsBatches(events, batchSize);
  let failed = 0;
  const { ms, peakRssMb } = await measure(async () => {
    for (const batch of batches) failed += (await handle(batch)).batchItemFailures.length;
  });
  const healthy = (await store.listExecutions(ROLLOUT)).filter((e) => e.stage === 'healthy').length;
  rows.push({
    'batch size': batchSize,
    events: events.length,
    invocations: batches.length,
    'invocations/event': (batches.length / events.length).toFixed(3),
    'handler ms/invocation': (ms / batches.length).toFixed(3),
    'events/s': Math.round((events.length / ms) * 1000),
    'failed records': failed,
    'devices healthy': `${healthy}/${DEVICES}`,
    'peak RSS MB': peakRssMb,
  });
}
console.log('OTA event ingestion through SQS batches (bench/ingest-events.ts)');
console.table(rows);
