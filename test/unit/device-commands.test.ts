import { describe, expect, it } from 'vitest';
import { CommandJobDocumentV1, isCommandDocument } from '../../contract/device-commands';
import {
  InMemoryCommandExpiry,
  InMemoryCommandJobs,
  InMemoryCommandStore,
  InMemoryDeviceInventoryStore,
  InMemoryLogUploads,
} from '../../functions/adapters/in-memory-device-commands';
import { InMemoryFleetStore } from '../../functions/adapters/in-memory-fleet-store';
import {
  EXPIRY_SCHEDULE_PREFIX,
  SchedulerCommandExpiry,
} from '../../functions/adapters/scheduler-command-expiry';
import { openCommandMessage } from '../../functions/device-commands/command-message';
import { SendCommandBody } from '../../functions/device-commands/schemas';
import { makeJobExecutionEventBatch } from '../../functions/device-events/job-execution-event-batch';
import type { Device } from '../../functions/domain/device';
import { mayTransition, newCommandId, transitionFromExecution } from '../../functions/domain/device-command';
import { CommandNotFoundError, DeviceNotFoundError, ValidationError } from '../../functions/domain/errors';
import { AwsApiError } from '../../functions/shared/aws-api/aws-service';
import type { CreateScheduleInput, SchedulerApi } from '../../functions/shared/aws-api/scheduler';
import { parseJsonBody } from '../../functions/shared/parse';
import { makeExpireDeviceCommand } from '../../functions/use-cases/expire-device-command';
import { makeGetDeviceCommand } from '../../functions/use-cases/get-device-command';
import { makeIssueCommandUploadUrl } from '../../functions/use-cases/issue-command-upload-url';
import { makeListDeviceCommands } from '../../functions/use-cases/list-device-commands';
import { makeRecordCommandExecution } from '../../functions/use-cases/record-command-execution';
import { makeRecordCommandInventory } from '../../functions/use-cases/record-command-inventory';
import { makeSendDeviceCommand } from '../../functions/use-cases/send-device-command';

const T0 = new Date('2026-11-28T10:00:00.000Z');

function harness(devices: Partial<Device>[] = [{ deviceId: 'gw-1' }]) {
  const fleet = new InMemoryFleetStore();
  for (const d of devices)
    void fleet.createDevice({
      deviceId: 'gw-1',
      hardwareType: 'rpi4',
      site: 'plant-a',
      region: 'eu',
      status: 'registered',
      registeredAt: T0.toISOString(),
      connection: { state: 'connected' },
      ...d,
    } as Device);
  let now = T0;
  let random = 0;
  const clock = { now: () => now };
  const ports = {
    fleet,
    commands: new InMemoryCommandStore(),
    jobs: new InMemoryCommandJobs(),
    expiry: new InMemoryCommandExpiry(),
    logs: new InMemoryLogUploads(),
    clock,
    randomHex: () => (random++).toString(16).padStart(12, '0'),
  };
  return {
    ...ports,
    setNow: (date: Date) => {
      now = date;
    },
    send: makeSendDeviceCommand(ports),
    get: makeGetDeviceCommand(ports),
    list: makeListDeviceCommands(ports),
    expire: makeExpireDeviceCommand(ports),
    record: makeRecordCommandExecution(ports),
    uploadUrl: makeIssueCommandUploadUrl(ports),
  };
}

const sendInput = {
  deviceId: 'gw-1',
  command: 'reboot' as const,
  parameters: {},
  expiresInSeconds: 600,
  requestedBy: 'alice',
  requestId: 'req-1',
};

describe('SendCommandBody', () => {
  const parse = (body: unknown) => parseJsonBody(SendCommandBody, JSON.stringify(body));

  it('takes a command with its defaults: no parameters, one hour', () => {
    expect(parse({ command: 'inventory' })).toEqual({ command: 'inventory', expiresInSeconds: 3600 });
  });

  it.each([
    [{ command: 'format-disk' }, 'command'],
    [{ command: 'upload-logs', parameters: { maxBytes: 10 * 1024 * 1024 } }, 'parameters.maxBytes'],
    [{ command: 'reboot', parameters: { force: true } }, 'parameters'],
    [{ command: 'reboot', expiresInSeconds: 5 }, 'expiresInSeconds'],
    [{ command: 'diagnostics', extra: 1 }, '(root)'],
  ])('refuses %j naming %s', (body, field) => {
    try {
      parse(body);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((i) => i.field)).toContain(field);
    }
  });
});

describe('command job document', () => {
  it('is recognised by its edgeopsCommand key, as an object or as JSON text', () => {
    expect(isCommandDocument({ edgeopsCommand: 1 })).toBe(true);
    expect(isCommandDocument('{"edgeopsCommand":2}')).toBe(true);
    expect(isCommandDocument({ schema: 'edgeops.ota.v3' })).toBe(false);
    expect(isCommandDocument('not json')).toBe(false);
  });

  it('round-trips what sendDeviceCommand dispatches', async () => {
    const h = harness();
    await h.send({ ...sendInput, command: 'upload-logs', parameters: { maxBytes: 65_536 } });
    const [created] = h.jobs.created;
    expect(CommandJobDocumentV1.parse(JSON.parse(JSON.stringify(created?.document)))).toEqual(
      created?.document,
    );
    expect(created?.document).toMatchObject({
      edgeopsCommand: 1,
      command: 'upload-logs',
      parameters: { maxBytes: 65_536 },
    });
  });
});

describe('sendDeviceCommand', () => {
  it('records the command QUEUED with its audit, schedules its expiry, then creates its one job', async () => {
    const h = harness();

    const command = await h.send(sendInput);

    expect(command).toMatchObject({
      status: 'QUEUED',
      requestedBy: 'alice',
      requestedAt: T0.toISOString(),
      requestId: 'req-1',
      expiresAt: '2026-11-28T10:10:00.000Z',
      jobId: command.commandId,
    });
    expect(await h.commands.get('gw-1', command.commandId)).toEqual(command);
    expect(h.expiry.scheduled).toEqual([
      { deviceId: 'gw-1', commandId: command.commandId, at: new Date(command.expiresAt) },
    ]);
    expect(h.jobs.created).toEqual([
      expect.objectContaining({ deviceId: 'gw-1', inProgressTimeoutMinutes: 15 }),
    ]);
  });

  it('refuses an unknown device and writes nothing', async () => {
    const h = harness();
    await expect(h.send({ ...sendInput, deviceId: 'gw-404' })).rejects.toBeInstanceOf(DeviceNotFoundError);
    expect(h.jobs.created).toEqual([]);
    expect((await h.list('gw-1', { limit: 10 })).items).toEqual([]);
  });

  it('marks the command FAILED and creates no job when its expiry cannot be scheduled', async () => {
    const h = harness();
    h.expiry.failSchedule = new Error('throttled');

    await expect(h.send(sendInput)).rejects.toThrow('throttled');

    const [command] = (await h.list('gw-1', { limit: 10 })).items;
    expect(command).toMatchObject({
      status: 'FAILED',
      statusReason: 'dispatch-failed: expiry schedule: throttled',
    });
    expect(h.jobs.created).toEqual([]);
  });

  it('marks the command FAILED when its job cannot be created', async () => {
    const h = harness();
    h.jobs.failCreate = new Error('LimitExceeded');

    await expect(h.send(sendInput)).rejects.toThrow('LimitExceeded');

    expect((await h.list('gw-1', { limit: 10 })).items[0]?.status).toBe('FAILED');
  });
});

describe('listDeviceCommands', () => {
  it('pages through a device’s commands newest first', async () => {
    const h = harness();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      h.setNow(new Date(T0.getTime() + i * 1000));
      ids.push((await h.send(sendInput)).commandId);
    }
    const first = await h.list('gw-1', { limit: 3 });
    const second = await h.list('gw-1', {
      limit: 3,
      ...(first.nextCursor ? { cursor: first.nextCursor } : {}),
    });

    expect([...first.items, ...second.items].map((c) => c.commandId)).toEqual([...ids].reverse());
    expect(second.nextCursor).toBeUndefined();
  });
});

describe('command ids', () => {
  it('sort by time', () => {
    const a = newCommandId(new Date('2026-01-01T00:00:00Z'), 'ffffffffffff');
    const b = newCommandId(new Date('2026-01-01T00:00:00.001Z'), '000000000000');
    expect(a < b).toBe(true);
    expect(a).toMatch(/^cmd-[0-9a-z]{10}[0-9a-f]{12}$/);
  });
});

describe('command status from job executions', () => {
  it.each([
    ['SUCCEEDED', {}, 'SUCCEEDED'],
    ['FAILED', { reason: 'upload-failed' }, 'FAILED'],
    ['TIMED_OUT', undefined, 'TIMED_OUT'],
    ['REJECTED', { reason: 'expired' }, 'EXPIRED'],
    ['REJECTED', { reason: 'invalid-document' }, 'FAILED'],
    ['CANCELED', { reason: 'expired' }, 'EXPIRED'],
    ['CANCELED', undefined, 'CANCELED'],
    ['REMOVED', undefined, 'CANCELED'],
  ] as const)('%s with %j is %s', (status, details, expected) => {
    expect(transitionFromExecution(status, details, T0)?.status).toBe(expected);
  });

  it('never replaces a terminal status, nor goes back to QUEUED', () => {
    expect(mayTransition('SUCCEEDED', 'FAILED')).toBe(false);
    expect(mayTransition('EXPIRED', 'CANCELED')).toBe(false);
    expect(mayTransition('IN_PROGRESS', 'QUEUED')).toBe(false);
    expect(mayTransition('QUEUED', 'IN_PROGRESS')).toBe(true);
    expect(mayTransition('IN_PROGRESS', 'SUCCEEDED')).toBe(true);
  });
});

describe('recordCommandExecution', () => {
  it('stores the result of a command job and ignores a later event for it', async () => {
    const h = harness();
    const { commandId } = await h.send(sendInput);
    const event = { jobId: commandId, deviceId: 'gw-1', at: T0 };

    expect(await h.record({ ...event, status: 'SUCCEEDED', statusDetails: { rebootedAt: 'x' } })).toBe(
      'applied',
    );
    expect(await h.record({ ...event, status: 'CANCELED' })).toBe('ignored');

    expect(await h.commands.get('gw-1', commandId)).toMatchObject({
      status: 'SUCCEEDED',
      result: { rebootedAt: 'x' },
      completedAt: T0.toISOString(),
    });
  });

  it('leaves wave jobs to the rollouts', async () => {
    const h = harness();
    const rolloutCalls: string[] = [];
    const batch = makeJobExecutionEventBatch({
      recordJobExecutionEvent: async (report) => {
        rolloutCalls.push(report.jobId);
        return 'applied';
      },
      recordCommandExecution: h.record,
    });
    const { commandId } = await h.send(sendInput);
    const body = (jobId: string) =>
      JSON.stringify({
        eventType: 'JOB_EXECUTION',
        jobId,
        thingArn: 'arn:aws:iot:eu-west-1:123456789012:thing/gw-1',
        status: 'FAILED',
        timestamp: 1_764_324_000,
        statusDetails: { reason: 'upload-failed' },
      });

    await batch({
      Records: [commandId, 'ro-0123456789ab-w1'].map((jobId, i) => ({
        messageId: `m${i}`,
        body: body(jobId),
      })),
    } as never);

    expect(rolloutCalls).toEqual(['ro-0123456789ab-w1']);
    expect(await h.commands.get('gw-1', commandId)).toMatchObject({
      status: 'FAILED',
      statusReason: 'upload-failed',
    });
  });
});

describe('expireDeviceCommand', () => {
  it('cancels a command the device never took and marks it EXPIRED', async () => {
    const h = harness();
    const { commandId, expiresAt } = await h.send(sendInput);
    h.setNow(new Date(expiresAt));

    expect(await h.expire('gw-1', commandId)).toBe('expired');

    expect(await h.jobs.describe('gw-1', commandId)).toEqual({
      status: 'CANCELED',
      statusDetails: { reason: 'expired' },
    });
    expect(await h.commands.get('gw-1', commandId)).toMatchObject({ status: 'EXPIRED' });
  });

  it('leaves a command the device is running to finish or time out', async () => {
    const h = harness();
    const { commandId, expiresAt } = await h.send(sendInput);
    h.jobs.setExecution('gw-1', commandId, { status: 'IN_PROGRESS' });
    h.setNow(new Date(expiresAt));

    expect(await h.expire('gw-1', commandId)).toBe('running');
    expect((await h.commands.get('gw-1', commandId))?.status).toBe('QUEUED');
  });

  it('does nothing early, nor to a command that ended', async () => {
    const h = harness();
    const { commandId, expiresAt } = await h.send(sendInput);
    expect(await h.expire('gw-1', commandId)).toBe('not-due');
    await h.record({ jobId: commandId, deviceId: 'gw-1', status: 'SUCCEEDED', at: T0 });
    h.setNow(new Date(expiresAt));
    expect(await h.expire('gw-1', commandId)).toBe('already-ended');
    expect((await h.commands.get('gw-1', commandId))?.status).toBe('SUCCEEDED');
  });
});

describe('getDeviceCommand', () => {
  it('shows IN_PROGRESS from AWS IoT (which sends no event for it) and writes it back', async () => {
    const h = harness();
    const { commandId } = await h.send(sendInput);
    h.jobs.setExecution('gw-1', commandId, { status: 'IN_PROGRESS', statusDetails: { stage: 'rebooting' } });

    const { command } = await h.get('gw-1', commandId);

    expect(command.status).toBe('IN_PROGRESS');
    expect(command.startedAt).toBe(T0.toISOString());
    expect((await h.commands.get('gw-1', commandId))?.status).toBe('IN_PROGRESS');
  });

  it('gives a download URL for uploaded logs, of the key the backend chose', async () => {
    const h = harness();
    const { commandId } = await h.send({ ...sendInput, command: 'upload-logs' });
    await h.record({
      jobId: commandId,
      deviceId: 'gw-1',
      status: 'SUCCEEDED',
      statusDetails: { objectKey: 'device-logs/other-device/secret.gz' },
      at: T0,
    });

    const { logDownload } = await h.get('gw-1', commandId);

    expect(logDownload?.url).toContain(`device-logs/gw-1/${commandId}.log.gz`);
  });

  it('does not find another device’s command', async () => {
    const h = harness([{ deviceId: 'gw-1' }, { deviceId: 'gw-2' }]);
    const { commandId } = await h.send(sendInput);
    await expect(h.get('gw-2', commandId)).rejects.toBeInstanceOf(CommandNotFoundError);
  });
});

describe('issueCommandUploadUrl', () => {
  it('answers a presigned upload for the command’s key, bounded by its maxBytes, and marks it IN_PROGRESS', async () => {
    const h = harness();
    const { commandId } = await h.send({
      ...sendInput,
      command: 'upload-logs',
      parameters: { maxBytes: 4096 },
    });

    const answer = await h.uploadUrl('gw-1', { clientToken: 't1', commandId, bytes: 4000 });

    expect(answer).toMatchObject({
      accepted: true,
      reply: {
        clientToken: 't1',
        objectKey: `device-logs/gw-1/${commandId}.log.gz`,
        fields: { maxBytes: '4096' },
      },
    });
    expect((await h.commands.get('gw-1', commandId))?.status).toBe('IN_PROGRESS');
  });

  it.each([
    ['too large', { bytes: 5000 }, 'TooLarge'],
    ['another device', { deviceId: 'gw-2' }, 'NotFound'],
  ])('refuses %s', async (_what, change, code) => {
    const h = harness([{ deviceId: 'gw-1' }, { deviceId: 'gw-2' }]);
    const { commandId } = await h.send({
      ...sendInput,
      command: 'upload-logs',
      parameters: { maxBytes: 4096 },
    });
    const deviceId = 'deviceId' in change ? change.deviceId : 'gw-1';
    const bytes = 'bytes' in change ? change.bytes : 100;

    const answer = await h.uploadUrl(deviceId, { clientToken: 't1', commandId, bytes });

    expect(answer).toMatchObject({ accepted: false, reply: { code } });
  });

  it('refuses a command that is not upload-logs, or has ended', async () => {
    const h = harness();
    const reboot = await h.send(sendInput);
    expect(
      (await h.uploadUrl('gw-1', { clientToken: 't', commandId: reboot.commandId, bytes: 1 })).accepted,
    ).toBe(false);
    const upload = await h.send({ ...sendInput, command: 'upload-logs' });
    await h.record({ jobId: upload.commandId, deviceId: 'gw-1', status: 'CANCELED', at: T0 });
    expect(
      await h.uploadUrl('gw-1', { clientToken: 't', commandId: upload.commandId, bytes: 1 }),
    ).toMatchObject({
      accepted: false,
      reply: { code: 'CommandEnded' },
    });
  });
});

describe('command messages from devices', () => {
  const envelope = (kind: 'upload-url' | 'inventory', message: unknown, deviceId = 'gw-1') => ({
    kind,
    deviceId,
    payload: Buffer.from(JSON.stringify(message)).toString('base64'),
  });

  it('take the sender from the topic, not from anything in the message', () => {
    const opened = openCommandMessage(
      envelope('upload-url', { clientToken: 't', commandId: 'cmd-00000000000000000000ab', bytes: 10 }),
    );
    expect(opened).toMatchObject({ kind: 'upload-url', deviceId: 'gw-1' });
    expect(() =>
      openCommandMessage(
        envelope('upload-url', {
          clientToken: 't',
          commandId: 'cmd-00000000000000000000ab',
          bytes: 10,
          deviceId: 'gw-2',
        }),
      ),
    ).toThrow(ValidationError);
  });

  it('store a newer inventory on the device and ignore an older one', async () => {
    const store = new InMemoryDeviceInventoryStore((id) => id === 'gw-1');
    const record = makeRecordCommandInventory({ inventory: store });
    const inventory = {
      reportedAt: '2026-11-28T10:00:00.000Z',
      agentVersion: '0.1.0',
      firmwareVersion: '1.0.0',
      components: [],
      hardware: { arch: 'arm64', cpuCount: 4, memoryBytes: 4e9 },
      os: { platform: 'linux', release: '6.1.0' },
      capabilities: ['commands:reboot'],
    };
    const opened = openCommandMessage(envelope('inventory', inventory));
    if (opened.kind !== 'inventory') throw new Error('expected an inventory');

    expect(await record('gw-1', opened.inventory)).toBe('applied');
    expect(await record('gw-1', { ...opened.inventory, reportedAt: '2026-11-28T09:00:00.000Z' })).toBe(
      'ignored',
    );
    expect(await record('gw-9', opened.inventory)).toBe('ignored');
    expect(store.inventories.get('gw-1')?.reportedAt).toBe('2026-11-28T10:00:00.000Z');
  });
});

describe('SchedulerCommandExpiry', () => {
  it('schedules a one-shot at() on the next whole second, named within the IAM prefix, deleted after it fires', async () => {
    const calls: CreateScheduleInput[] = [];
    const api = {
      createSchedule: async (input: CreateScheduleInput) => {
        calls.push(input);
        return {};
      },
    } as unknown as SchedulerApi;
    const expiry = new SchedulerCommandExpiry(api, {
      groupName: 'default',
      targetArn: 'arn:fn',
      roleArn: 'arn:role',
    });

    await expiry.schedule('gw-1', 'cmd-00mx08ocg0000000000001', new Date('2026-11-28T10:10:00.200Z'));

    expect(calls[0]).toMatchObject({
      name: `${EXPIRY_SCHEDULE_PREFIX}00mx08ocg0000000000001`,
      scheduleExpression: 'at(2026-11-28T10:10:01)',
      actionAfterCompletion: 'DELETE',
      target: {
        arn: 'arn:fn',
        roleArn: 'arn:role',
        input: JSON.stringify({ deviceId: 'gw-1', commandId: 'cmd-00mx08ocg0000000000001' }),
      },
    });
    expect(calls[0]?.name.length).toBeLessThanOrEqual(64);
  });

  it('takes an existing schedule (a retry) as done', async () => {
    const api = {
      createSchedule: async () => {
        throw new AwsApiError('ConflictException', 'exists', 409);
      },
    } as unknown as SchedulerApi;
    const expiry = new SchedulerCommandExpiry(api, { groupName: 'default', targetArn: 'a', roleArn: 'r' });
    await expect(expiry.schedule('gw-1', 'cmd-00mx08ocg0000000000001', new Date())).resolves.toBeUndefined();
  });
});
