import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeviceInventoryV1 } from '../../contract/device-commands';
import type { UpdateVerdict } from '../../device/cloud/iot-jobs-client';
import { CommandRunner, type CommandSession, statusDetails } from '../../device/commands/command-runner';
import {
  fileLogSource,
  journalLogSource,
  MemoryLogSource,
  packLogs,
} from '../../device/commands/log-collection';
import { DeviceAgent } from '../../device/device-agent';
import { InMemoryIotCore } from '../../simulator/in-memory-iot-core';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function tempDir(prefix = 'edgeops-commands-') {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const NOW = Date.parse('2026-11-28T10:00:00Z');
const commandId = 'cmd-00mx08ocg0000000000001';
const doc = (command: string, extra: Record<string, unknown> = {}) => ({
  edgeopsCommand: 1,
  commandId,
  command,
  parameters: {},
  expiresAt: new Date(NOW + 600_000).toISOString(),
  ...extra,
});

/** A session that records job updates and answers each as `verdict` says. */
function fakeSession(verdict: (status: string) => UpdateVerdict = () => ({ accepted: true })) {
  const updates: { jobId: string; status: string; details: Readonly<Record<string, string>> }[] = [];
  const published: { topic: string; payload: string }[] = [];
  const session: CommandSession = {
    signal: new AbortController().signal,
    update: async (jobId, status, details) => {
      updates.push({ jobId, status, details });
      return verdict(status);
    },
    publish: async (topic, payload) => {
      published.push({ topic, payload });
    },
    requestUploadUrl: async () => {
      throw new Error('no uploads here');
    },
  };
  return { session, updates, published };
}

async function runner(
  options: {
    bootId?: () => Promise<string | undefined>;
    now?: () => number;
    reboot?: () => Promise<void>;
  } = {},
) {
  const stateDir = await tempDir();
  return {
    stateDir,
    open: () =>
      CommandRunner.open({
        deviceId: 'gw-1',
        stateDir,
        durability: { fsync: false },
        now: options.now ?? (() => NOW),
        log: () => {},
        reboot: options.reboot,
        retryDelayMs: 10,
        bootId: options.bootId ?? (async () => 'boot-1'),
        logs: new MemoryLogSource(),
        diagnostics: { endpoints: [] },
        inventory: {
          agentVersion: '0.1.0',
          firmwareVersion: '1.0.0',
          hardwareType: 'rpi4',
          components: async () => ({ firmware: '1.0.0' }),
          capabilities: ['commands:inventory'],
        },
      }),
  };
}

describe('CommandRunner', () => {
  it('refuses a command past its expiry (beyond the clock allowance) with reason expired', async () => {
    const { open } = await runner({ now: () => NOW + 600_000 + 61_000 });
    const { session, updates } = fakeSession();

    expect(await (await open()).run(session, { jobId: commandId, jobDocument: doc('diagnostics') })).toBe(
      'idle',
    );

    expect(updates).toEqual([
      expect.objectContaining({
        status: 'REJECTED',
        details: expect.objectContaining({ reason: 'expired' }),
      }),
    ]);
  });

  it('still runs a command a little past its expiry: clocks differ', async () => {
    const { open } = await runner({ now: () => NOW + 600_000 + 30_000 });
    const { session, updates } = fakeSession();

    await (await open()).run(session, { jobId: commandId, jobDocument: doc('diagnostics') });

    expect(updates.map((u) => u.status)).toEqual(['IN_PROGRESS', 'SUCCEEDED']);
  });

  it('refuses a malformed document naming the field', async () => {
    const { open } = await runner();
    const { session, updates } = fakeSession();

    await (await open()).run(session, { jobId: commandId, jobDocument: doc('format-disk') });

    expect(updates[0]).toMatchObject({ status: 'REJECTED', details: { reason: 'invalid-document' } });
    expect(updates[0]?.details.detail).toContain('command');
  });

  it('reports diagnostics with figures: disk, memory, uptime', async () => {
    const { open } = await runner();
    const { session, updates } = fakeSession();

    await (await open()).run(session, { jobId: commandId, jobDocument: doc('diagnostics') });

    const result = updates.at(-1);
    expect(result?.status).toBe('SUCCEEDED');
    expect(Number(result?.details.diskFreeBytes)).toBeGreaterThan(0);
    expect(Number(result?.details.diskTotalBytes)).toBeGreaterThanOrEqual(
      Number(result?.details.diskFreeBytes),
    );
    expect(Number(result?.details.uptimeSeconds)).toBeGreaterThan(0);
    expect(result?.details.clockSkewMs).toBe('unknown');
  });

  it('publishes an inventory the contract accepts, then succeeds', async () => {
    const { open } = await runner();
    const { session, updates, published } = fakeSession();

    await (await open()).run(session, { jobId: commandId, jobDocument: doc('inventory') });

    expect(published.map((p) => p.topic)).toEqual(['edgeops/devices/gw-1/commands/inventory']);
    const inventory = DeviceInventoryV1.parse(JSON.parse(published[0]?.payload ?? ''));
    expect(inventory).toMatchObject({
      commandId,
      agentVersion: '0.1.0',
      components: [{ name: 'firmware', version: '1.0.0' }],
    });
    expect(updates.at(-1)).toMatchObject({ status: 'SUCCEEDED', details: { inventoryReported: 'true' } });
  });

  it('does not run a command whose IN_PROGRESS update is refused (canceled meanwhile)', async () => {
    const { open } = await runner();
    const { session, published } = fakeSession((status) =>
      status === 'IN_PROGRESS' ? { accepted: false, code: 'TerminalStateReached' } : { accepted: true },
    );

    await (await open()).run(session, { jobId: commandId, jobDocument: doc('inventory') });

    expect(published).toEqual([]);
  });

  it('keeps a verdict it could not deliver and delivers it on the next session', async () => {
    const { open } = await runner();
    const offline = fakeSession();
    offline.session.update = async (jobId, status, details) => {
      offline.updates.push({ jobId, status, details });
      throw new Error('offline');
    };
    const first = await open();
    await first.run(offline.session, { jobId: commandId, jobDocument: doc('diagnostics') });
    expect(first.pending.map((e) => e.status)).toEqual(['SUCCEEDED']);

    const online = fakeSession();
    await (await open()).resume(online.session);

    expect(online.updates.map((u) => u.status)).toEqual(['SUCCEEDED']);
  });

  it('tries an unanswered verdict again on the same session', async () => {
    const { open } = await runner();
    const { session, updates } = fakeSession();
    let unanswered = 2;
    const update = session.update;
    session.update = async (jobId, status, details, token) => {
      if (status !== 'IN_PROGRESS' && unanswered-- > 0) throw new Error('no answer within 15000 ms');
      return update(jobId, status, details, token);
    };
    const first = await open();

    await first.run(session, { jobId: commandId, jobDocument: doc('diagnostics') });

    await vi.waitFor(() => expect(updates.map((u) => u.status)).toEqual(['IN_PROGRESS', 'SUCCEEDED']));
    expect(first.pending).toEqual([]);
  });

  it('confirms a reboot on the next boot, not on a reconnect before it', async () => {
    let boot = 'boot-1';
    let rebooted = 0;
    const { open } = await runner({
      bootId: async () => boot,
      reboot: async () => {
        rebooted++;
      },
    });
    const { session, updates } = fakeSession();
    const before = await open();

    expect(await before.run(session, { jobId: commandId, jobDocument: doc('reboot') })).toBe('idle');
    expect(rebooted).toBe(1);
    await before.resume(session); // a reconnect while the reboot is still coming
    expect(updates.map((u) => u.status)).toEqual(['IN_PROGRESS']);

    boot = 'boot-2';
    await (await open()).resume(session);

    expect(updates.at(-1)).toMatchObject({ status: 'SUCCEEDED', details: { bootId: 'boot-2' } });
  });

  it('fails a reboot the agent came back from without a new boot', async () => {
    const { open } = await runner({ reboot: async () => {} });
    const { session, updates } = fakeSession();
    await (await open()).run(session, { jobId: commandId, jobDocument: doc('reboot') });

    await (await open()).resume(session); // a new process, same boot id: only the agent restarted

    expect(updates.at(-1)).toMatchObject({ status: 'FAILED', details: { reason: 'reboot-not-observed' } });
  });
});

describe('statusDetails', () => {
  it('keeps only what AWS IoT Jobs accepts', () => {
    const out = statusDetails({ ok: 'a\nb', 'bad key!': 'x', empty: '  ', long: 'x'.repeat(2000) });
    expect(out).toEqual({ ok: 'a b', long: 'x'.repeat(1024) });
  });
});

describe('log sources', () => {
  it('reads the tail across rotated files, oldest first', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'agent.log.1'), 'old-1\nold-2\n');
    await writeFile(join(dir, 'agent.log'), 'new-1\nnew-2\n');

    const { tail, totalBytes } = await fileLogSource([
      join(dir, 'agent.log.1'),
      join(dir, 'missing'),
      join(dir, 'agent.log'),
    ]).readTail(18);

    expect(tail.toString()).toBe('old-2\nnew-1\nnew-2\n');
    expect(totalBytes).toBe(24);
  });

  it('asks journalctl for the unit’s newest lines and keeps the tail of what it prints', async () => {
    const dir = await tempDir();
    const fake = join(dir, 'journalctl');
    await writeFile(fake, '#!/bin/sh\necho "args: $*"\nseq 1 5000\n', { mode: 0o755 });

    const { tail, totalBytes } = await journalLogSource('edgeops-agent.service', fake).readTail(100);

    expect(tail.length).toBe(100);
    expect(tail.toString().endsWith('4999\n5000\n')).toBe(true);
    expect(totalBytes).toBeGreaterThan(20_000);
    const { tail: head } = await journalLogSource('edgeops-agent.service', fake).readTail(1_000_000);
    expect(head.toString().split('\n')[0]).toBe(
      'args: -u edgeops-agent.service -o short-iso --no-pager -q -n 25000',
    );
  });
});

describe('packLogs', () => {
  it('keeps the newest lines within the bound, gzip’d, and says what it left out', async () => {
    const dir = await tempDir();
    const lines = Array.from({ length: 200_000 }, (_, i) => `line ${i} ${Math.random().toString(36)}\n`).join(
      '',
    );
    await writeFile(join(dir, 'agent.log'), lines);

    const packed = await packLogs(fileLogSource([join(dir, 'agent.log')]), 64 * 1024);

    expect(packed.gz.length).toBeLessThanOrEqual(64 * 1024);
    expect(packed.truncated).toBe(true);
    const text = gunzipSync(packed.gz).toString('utf8');
    expect(text.startsWith('[edgeops-agent: ')).toBe(true);
    expect(text.endsWith(`line 199999 ${lines.trimEnd().split('line 199999 ')[1]}\n`)).toBe(true);
    expect(text.split('\n')[1]).toMatch(/^line \d+ /);
  });

  it('sends everything when it fits', async () => {
    const source = new MemoryLogSource();
    source.append('hello');
    const packed = await packLogs(source, 4096);
    expect(packed.truncated).toBe(false);
    expect(gunzipSync(packed.gz).toString()).toMatch(/ hello\n$/);
  });
});

describe('DeviceAgent with commands', () => {
  const THING = 'gw-cmd-1';

  async function agentOn(core: InMemoryIotCore, withOta = false) {
    const stateDir = await tempDir();
    const agent = new DeviceAgent({
      identity: { deviceId: THING },
      connector: core.connector(THING),
      firmwareVersion: '1.0.0',
      requestTimeoutMs: 1000,
      commands: { stateDir: join(stateDir, 'commands'), fsync: false },
      ...(withOta ? { ota: { stateDir, hardwareType: 'rpi4', fsync: false, timeFactor: 0.001 } } : {}),
    });
    cleanups.push(() => agent.stop());
    await agent.start();
    return agent;
  }

  it('reboots in-process and reports success once it is back', async () => {
    const core = new InMemoryIotCore();
    await agentOn(core);

    core.createJob(commandId, doc('reboot', { expiresAt: new Date(Date.now() + 600_000).toISOString() }), [
      THING,
    ]);

    await vi.waitFor(() => expect(core.execution(THING, commandId)?.status).toBe('SUCCEEDED'), {
      timeout: 5000,
    });
    expect(core.execution(THING, commandId)?.statusDetails.rebootedAt).toBeDefined();
  });

  it('takes command jobs beside OTA jobs, dispatching on the document', async () => {
    const core = new InMemoryIotCore();
    await agentOn(core, true);

    core.createJob('not-ota', { operation: 'not-an-ota-job' }, [THING]);
    core.createJob(
      commandId,
      doc('diagnostics', { expiresAt: new Date(Date.now() + 600_000).toISOString() }),
      [THING],
    );

    await vi.waitFor(() => expect(core.execution(THING, commandId)?.status).toBe('SUCCEEDED'), {
      timeout: 5000,
    });
    // The OTA updater refused the other one, as it always has.
    expect(core.execution(THING, 'not-ota')?.status).toBe('REJECTED');
  });

  it('refuses an OTA job on a device without OTA', async () => {
    const core = new InMemoryIotCore();
    await agentOn(core);

    core.createJob('ota-job', { schema: 'edgeops.ota.v3' }, [THING]);

    await vi.waitFor(() => expect(core.execution(THING, 'ota-job')?.status).toBe('REJECTED'), {
      timeout: 5000,
    });
  });
});
