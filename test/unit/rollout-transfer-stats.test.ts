import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { OtaEventV1 } from '../../contract/ota';
import { InMemoryRolloutStore } from '../../functions/adapters/in-memory-rollout-store';
import type { DeviceExecution, Rollout, Wave } from '../../functions/domain/rollout';
import { rolloutView } from '../../functions/operator-api/rollouts/rollout-view';
import { makeRecordOtaEvent } from '../../functions/use-cases/rollouts/record-ota-event';
import { makeGetRolloutStatus } from '../../functions/use-cases/rollouts/rollout-status';
import { createRolloutWith, rolloutFixture, waveFixture } from './rollout-fixtures';

const ROLLOUT = 'ro-0123456789ab';
const IMAGE = 100_000_000;
const wave = (index: number): Wave => waveFixture(index, { size: { percent: 50 }, deviceCount: 2 });
const rollout: Rollout = rolloutFixture({ rolloutId: ROLLOUT, waves: [wave(0), wave(1)], currentWave: 1 });
const execution = (deviceId: string, waveIndex: number): DeviceExecution => ({
  rolloutId: ROLLOUT,
  deviceId,
  waveIndex,
  hardwareType: 'rpi4',
  site: 's',
  fromVersion: '1.0.0',
  stage: 'queued',
  lastSeq: 0,
});

async function setup() {
  const rollouts = new InMemoryRolloutStore();
  await createRolloutWith(rollouts, rollout, [
    execution('a', 0),
    execution('b', 0),
    execution('c', 1),
    execution('d', 1),
  ]);
  const record = makeRecordOtaEvent({ rollouts });
  const seqs = new Map<string, number>();
  const report = async (
    deviceId: string,
    waveIndex: number,
    stage: OtaEventV1['stage'],
    extra: Pick<OtaEventV1, 'bytesDownloaded' | 'transfer'> = {},
  ) => {
    const seq = (seqs.get(deviceId) ?? 0) + 1;
    seqs.set(deviceId, seq);
    return record(
      {
        schema: 'edgeops.ota-event.v1',
        eventId: randomUUID(),
        deviceId,
        rolloutId: ROLLOUT,
        jobId: `${ROLLOUT}-w${waveIndex}`,
        stage,
        runningVersion: stage === 'healthy' ? '2.0.0' : '1.0.0',
        slot: 'B',
        at: Date.now(),
        seq,
        ...extra,
      },
      deviceId,
    );
  };
  return { rollouts, report, status: makeGetRolloutStatus({ rollouts }) };
}

const delta = (bytes: number) => ({
  bytesDownloaded: bytes,
  transfer: { mode: 'delta' as const, imageBytes: IMAGE },
});
const full = (bytes: number) => ({
  bytesDownloaded: bytes,
  transfer: { mode: 'full' as const, imageBytes: IMAGE },
});

describe('rollout bytes sent and saved', () => {
  it('keeps the bytes and transfer mode a device last reported on its execution', async () => {
    const t = await setup();
    await t.report('a', 0, 'downloading', delta(1_000_000));
    await t.report('a', 0, 'installing', delta(4_000_000));
    // A later event that carries no bytes keeps the last reported ones.
    await t.report('a', 0, 'healthy');

    const [a] = await t.rollouts.listExecutions(ROLLOUT, 0);

    expect(a).toMatchObject({ stage: 'healthy', bytesDownloaded: 4_000_000, transfer: { mode: 'delta' } });
  });

  it('counts bytes sent by every device, and saved only by deltas that finished downloading', async () => {
    const t = await setup();
    await t.report('a', 0, 'installing', delta(4_000_000));
    await t.report('a', 0, 'healthy');
    await t.report('b', 0, 'healthy', full(IMAGE));
    await t.report('c', 1, 'downloading', delta(2_000_000)); // still downloading: no saving yet
    await t.report('d', 1, 'rolled-back', delta(5_000_000));

    const status = await t.status(ROLLOUT);

    expect(status.bytes.waves).toEqual([
      { sent: 4_000_000 + IMAGE, saved: IMAGE - 4_000_000, deltaDevices: 1, fullDevices: 1 },
      { sent: 7_000_000, saved: IMAGE - 5_000_000, deltaDevices: 2, fullDevices: 0 },
    ]);
    expect(status.bytes.total).toEqual({
      sent: 11_000_000 + IMAGE,
      saved: 2 * IMAGE - 9_000_000,
      deltaDevices: 3,
      fullDevices: 1,
    });
  });

  it('shows bytes for the rollout and each wave in the API view', async () => {
    const t = await setup();
    await t.report('b', 0, 'healthy', full(IMAGE));

    const view = rolloutView(rollout, await t.status(ROLLOUT));

    expect(view.bytes).toEqual({ sent: IMAGE, saved: 0, deltaDevices: 0, fullDevices: 1 });
    expect(view.waves.map((w) => w.bytes)).toEqual([
      { sent: IMAGE, saved: 0, deltaDevices: 0, fullDevices: 1 },
      { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 },
    ]);
    expect(rolloutView(rollout)).not.toHaveProperty('bytes');
  });

  it('is all zero before any device reports', async () => {
    const t = await setup();
    expect((await t.status(ROLLOUT)).bytes).toEqual({
      total: { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 },
      waves: [
        { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 },
        { sent: 0, saved: 0, deltaDevices: 0, fullDevices: 0 },
      ],
    });
  });
});
