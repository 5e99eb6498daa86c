import { randomUUID } from 'node:crypto';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { OtaEventV1 } from '../../contract/ota';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import { makeConnectionEventBatch } from '../../functions/device-events/connection-event-batch';
import { makeJobExecutionEventBatch } from '../../functions/device-events/job-execution-event-batch';
import { makeOtaEventBatch } from '../../functions/device-events/ota-event-batch';
import { makeShadowReportBatch } from '../../functions/device-events/shadow-report-batch';
import type { DeviceReport } from '../../functions/domain/device';
import { newDevice } from '../../functions/domain/device';
import type { RolloutStore } from '../../functions/ports/rollout-store';
import { makeRecordConnection, makeRecordDeviceReport } from '../../functions/use-cases/record-device-report';
import { makeRecordJobExecutionEvent } from '../../functions/use-cases/rollouts/record-job-execution-event';
import { makeRecordOtaEvent } from '../../functions/use-cases/rollouts/record-ota-event';

/** An SQS batch as the event source mapping delivers it: message `m<i>` carries `bodies[i]`. */
const batchOf = (...bodies: unknown[]): SQSEvent => ({
  Records: bodies.map((body, i) => ({
    messageId: `m${i}`,
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
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:ShadowReportQueue',
    awsRegion: 'eu-west-1',
  })),
});

const throttled = () =>
  new ProvisionedThroughputExceededException({ message: 'Rate of requests exceeds', $metadata: {} });

/** A fleet with registered devices; `flaky` ones fail every write as DynamoDB does when throttling. */
async function fleetOf(ids: string[], flaky: string[] = []) {
  const store = new InMemoryFleetStore();
  for (const id of ids) {
    await store.createDevice(
      newDevice({ deviceId: id, hardwareType: 'rpi4', site: 'plant-a', region: 'eu' }, new Date(0)),
    );
    await store.completeRegistration(id, `cert-${id}`);
  }
  const recordReport = store.recordReport.bind(store);
  store.recordReport = async (report: DeviceReport) => {
    if (flaky.includes(report.deviceId)) throw throttled();
    return recordReport(report);
  };
  return store;
}

const shadowReport = (thingName: string, version: number, firmwareVersion: unknown) => ({
  state: { reported: { firmwareVersion } },
  metadata: { reported: { firmwareVersion: { timestamp: 1767225600 } } },
  version,
  timestamp: 1767225600,
  thingName,
});

describe('shadow report batch', () => {
  const setup = async (flaky: string[] = []) => {
    const fleet = await fleetOf(['gw-1', 'gw-2', 'gw-3'], flaky);
    const batch = makeShadowReportBatch({
      recordDeviceReport: makeRecordDeviceReport({ fleetStore: fleet }),
    });
    const firmwareOf = async (id: string) => (await fleet.getDevice(id))?.firmwareVersion;
    return { batch, firmwareOf };
  };

  it('applies every valid report of a batch and reports no failure', async () => {
    const { batch, firmwareOf } = await setup();

    const response = await batch(batchOf(shadowReport('gw-1', 2, '1.1.0'), shadowReport('gw-2', 5, '1.2.0')));

    expect(response.batchItemFailures).toEqual([]);
    expect(await firmwareOf('gw-1')).toBe('1.1.0');
    expect(await firmwareOf('gw-2')).toBe('1.2.0');
  });

  it('drops malformed records without failing them, and applies the rest', async () => {
    const { batch, firmwareOf } = await setup();

    const response = await batch(
      batchOf(
        'not json {',
        shadowReport('gw-1', 2, 42),
        shadowReport('gw-2', 2, '2.0.1 beta; DROP TABLE'),
        { ...shadowReport('gw-3', 2, '1.0.0'), thingName: '../gw-3' },
        shadowReport('gw-3', 2, '1.3.0'),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(await firmwareOf('gw-1')).toBeUndefined();
    expect(await firmwareOf('gw-2')).toBeUndefined();
    expect(await firmwareOf('gw-3')).toBe('1.3.0');
  });

  it('fails only the record whose write failed, so only it is retried', async () => {
    const { batch, firmwareOf } = await setup(['gw-2']);

    const response = await batch(
      batchOf(
        shadowReport('gw-1', 2, '1.1.0'),
        shadowReport('gw-2', 2, '1.1.0'),
        shadowReport('gw-3', 2, '1.1.0'),
      ),
    );

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(await firmwareOf('gw-1')).toBe('1.1.0');
    expect(await firmwareOf('gw-3')).toBe('1.1.0');
  });

  it('fails the invocation when every record failed, so Lambda hands the whole batch back', async () => {
    const { batch } = await setup(['gw-1']);

    await expect(batch(batchOf(shadowReport('gw-1', 2, '1.1.0')))).rejects.toThrow(/All records failed/);
  });

  it('changes nothing when the same batch arrives again, or an older report after a newer one', async () => {
    const { batch, firmwareOf } = await setup();
    const first = batchOf(shadowReport('gw-1', 3, '1.3.0'), shadowReport('gw-1', 2, '1.2.0'));

    await batch(first);
    const again = await batch(first);

    expect(again.batchItemFailures).toEqual([]);
    expect(await firmwareOf('gw-1')).toBe('1.3.0');
  });
});

describe('connection event batch', () => {
  const presence = (clientId: string, eventType: string, timestamp: number) => ({
    clientId,
    timestamp,
    eventType,
    sessionIdentifier: randomUUID(),
    principalIdentifier: 'cert-id',
    versionNumber: 1,
  });

  it('applies connects and disconnects in timestamp order, whatever the order in the batch', async () => {
    const fleet = await fleetOf(['gw-1', 'gw-2']);
    const batch = makeConnectionEventBatch({ recordConnection: makeRecordConnection({ fleetStore: fleet }) });

    const response = await batch(
      batchOf(
        presence('gw-1', 'disconnected', 1767225602000),
        presence('gw-1', 'connected', 1767225601000),
        presence('gw-2', 'connected', 1767225601000),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect((await fleet.getDevice('gw-1'))?.connection.state).toBe('disconnected');
    expect((await fleet.getDevice('gw-2'))?.connection.state).toBe('connected');
  });

  it('drops an event of another kind without failing it', async () => {
    const fleet = await fleetOf(['gw-1']);
    const batch = makeConnectionEventBatch({ recordConnection: makeRecordConnection({ fleetStore: fleet }) });

    const response = await batch(batchOf(presence('gw-1', 'subscribed', 1767225601000)));

    expect(response.batchItemFailures).toEqual([]);
    expect((await fleet.getDevice('gw-1'))?.connection.state).toBe('unknown');
  });
});

describe('OTA event batch', () => {
  const ROLLOUT = 'ro-0123456789ab';
  const otaEvent = (deviceId: string, seq: number): OtaEventV1 => ({
    schema: 'edgeops.ota-event.v1',
    eventId: randomUUID(),
    deviceId,
    rolloutId: ROLLOUT,
    jobId: `${ROLLOUT}-w0`,
    stage: 'downloading',
    runningVersion: '1.0.0',
    slot: 'A',
    at: 1767225600000,
    seq,
  });
  /** The rule's message: the device's event, then `thingName` from the topic. */
  const ruleMessage = (event: OtaEventV1, thingName = event.deviceId) => ({ ...event, thingName });
  const setup = (failFor?: string) => {
    const applied: { deviceId: string; seq: number; waveIndex: number }[] = [];
    const rollouts = {
      applyOtaEvent: async (event: OtaEventV1, waveIndex: number) => {
        if (event.deviceId === failFor) throw throttled();
        applied.push({ deviceId: event.deviceId, seq: event.seq, waveIndex });
        return true;
      },
    } as Pick<RolloutStore, 'applyOtaEvent'> as RolloutStore;
    return { applied, batch: makeOtaEventBatch({ recordOtaEvent: makeRecordOtaEvent({ rollouts }) }) };
  };

  it('applies each event to the wave its job names', async () => {
    const { applied, batch } = setup();

    const response = await batch(batchOf(ruleMessage(otaEvent('gw-1', 1)), ruleMessage(otaEvent('gw-2', 4))));

    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toEqual(
      expect.arrayContaining([
        { deviceId: 'gw-1', seq: 1, waveIndex: 0 },
        { deviceId: 'gw-2', seq: 4, waveIndex: 0 },
      ]),
    );
  });

  it('drops, without failing, an event a device published for another device or with no thing name', async () => {
    const { applied, batch } = setup();

    const response = await batch(
      batchOf(ruleMessage(otaEvent('gw-victim', 9), 'gw-intruder'), otaEvent('gw-1', 1)),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toEqual([]);
  });

  it('fails only the record whose write failed', async () => {
    const { applied, batch } = setup('gw-2');

    const response = await batch(batchOf(ruleMessage(otaEvent('gw-1', 1)), ruleMessage(otaEvent('gw-2', 1))));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect(applied.map((a) => a.deviceId)).toEqual(['gw-1']);
  });
});

describe('job execution event batch', () => {
  const ROLLOUT = 'ro-0123456789ab';
  const jobEvent = (status: string, thingName = 'gw-1', jobId = `${ROLLOUT}-w2`) => ({
    eventType: 'JOB_EXECUTION',
    eventId: randomUUID(),
    timestamp: 1767225600,
    operation: status.toLowerCase(),
    jobId,
    thingArn: `arn:aws:iot:eu-west-1:123456789012:thing/${thingName}`,
    status,
    statusDetails: { reason: 'health-check-failed' },
    executionNumber: 1,
  });
  const setup = (failFor?: string) => {
    const applied: unknown[][] = [];
    const rollouts: Pick<RolloutStore, 'applyJobExecutionStatus'> = {
      applyJobExecutionStatus: async (...args) => {
        if (args[2] === failFor) throw throttled();
        applied.push(args);
        return true;
      },
    };
    return {
      applied,
      batch: makeJobExecutionEventBatch({
        recordJobExecutionEvent: makeRecordJobExecutionEvent({ rollouts }),
      }),
    };
  };

  it('records an unsuccessful status on the device of the thing ARN, in the wave the job names', async () => {
    const { applied, batch } = setup();

    const response = await batch(batchOf(jobEvent('FAILED'), jobEvent('TIMED_OUT', 'gw-2')));

    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toEqual(
      expect.arrayContaining([
        [ROLLOUT, 2, 'gw-1', 'FAILED'],
        [ROLLOUT, 2, 'gw-2', 'TIMED_OUT'],
      ]),
    );
  });

  it('drops malformed events and those of other jobs or other statuses without failing them', async () => {
    const { applied, batch } = setup();

    const response = await batch(
      batchOf(
        { ...jobEvent('FAILED'), thingArn: 'arn:aws:iot:eu-west-1:123456789012:thinggroup/edgeops' },
        { ...jobEvent('FAILED'), eventType: 'JOB' },
        { ...jobEvent('FAILED'), status: 'EXPLODED' },
        jobEvent('SUCCEEDED'),
        jobEvent('FAILED', 'gw-1', 'nightly-reboot'),
      ),
    );

    expect(response.batchItemFailures).toEqual([]);
    expect(applied).toEqual([]);
  });

  it('fails only the record whose write failed', async () => {
    const { applied, batch } = setup('gw-2');

    const response = await batch(batchOf(jobEvent('REJECTED', 'gw-2'), jobEvent('CANCELED', 'gw-1')));

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(applied).toEqual([[ROLLOUT, 2, 'gw-1', 'CANCELED']]);
  });
});
