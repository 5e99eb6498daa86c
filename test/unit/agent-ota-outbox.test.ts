import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Delivery, OtaOutbox, type OutboxEntry } from '../../device/ota/ota-outbox';

const update = (stage: string): OutboxEntry => ({
  kind: 'job-update',
  id: randomUUID(),
  jobId: 'r1-w0',
  status: 'IN_PROGRESS',
  statusDetails: { stage },
});

let dir: string;
const open = () => OtaOutbox.open(join(dir, 'outbox.json'), { fsync: false, retryDelayMs: 60_000 });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edgeops-outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OtaOutbox', () => {
  it('delivers in the order entries were queued', async () => {
    const outbox = await open();
    const sent: string[] = [];
    outbox.setSender(async (entry) => {
      if (entry.kind === 'job-update') sent.push(entry.statusDetails.stage ?? '');
      return 'delivered';
    });

    await outbox.append(update('downloading'), update('installing'));
    await outbox.append(update('rebooting'));
    await outbox.flush();

    expect(sent).toEqual(['downloading', 'installing', 'rebooting']);
    expect(outbox.pending).toEqual([]);
  });

  it('stops at the first entry it cannot deliver and keeps it and the rest, on disk', async () => {
    const outbox = await open();
    let answer: Delivery = 'delivered';
    outbox.setSender(async () => {
      const now = answer;
      answer = 'offline';
      return now;
    });

    await outbox.append(update('downloading'), update('installing'), update('rebooting'));
    await outbox.flush();
    outbox.close();
    const reopened = await open();

    expect(reopened.pending.map((e) => (e.kind === 'job-update' ? e.statusDetails.stage : ''))).toEqual([
      'installing',
      'rebooting',
    ]);
  });

  it('queues an entry once, however often it is appended', async () => {
    const outbox = await open();
    const entry = update('downloading');

    await outbox.append(entry);
    await outbox.append(entry);

    expect(outbox.pending).toHaveLength(1);
  });

  it('refuses to queue once closed (the power is gone), so no caller goes on as if it had', async () => {
    const outbox = await open();
    outbox.close();

    await expect(outbox.append(update('downloading'))).rejects.toThrow(/closed/);
    expect((await open()).pending).toEqual([]);
  });

  it('keeps one copy of an entry queued again after a restart (same id)', async () => {
    const first = await open();
    const entry = update('installing');
    await first.append(entry);
    first.close();

    const reopened = await open();
    await reopened.append(entry);

    expect(reopened.pending).toEqual([entry]);
  });

  it('does not queue again an entry it delivered a moment ago (a replay racing the flush)', async () => {
    const outbox = await open();
    const sent: string[] = [];
    outbox.setSender(async (entry) => {
      sent.push(entry.id);
      return 'delivered';
    });
    const entry = update('rebooting');

    await outbox.append(entry);
    await outbox.flush();
    await outbox.append(entry);
    await outbox.flush();

    expect(sent).toEqual([entry.id]);
    expect(outbox.pending).toEqual([]);
  });

  it('drops an entry the cloud refused for good and goes on', async () => {
    const outbox = await open();
    const answers: Delivery[] = ['dropped', 'delivered'];
    outbox.setSender(async () => answers.shift() ?? 'offline');

    await outbox.append(update('downloading'), update('installing'));
    await outbox.flush();

    expect(outbox.pending).toEqual([]);
  });
});
