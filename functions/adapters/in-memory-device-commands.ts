import type { CommandJobDocumentV1, DeviceInventoryV1 } from '../../contract/device-commands';
import { type CommandTransition, type DeviceCommand, mayTransition } from '../domain/device-command';
import type { CommandExpiryScheduler } from '../ports/command-expiry';
import type { CancelOutcome, CommandExecution, CommandJobs } from '../ports/command-jobs';
import type { CommandPage, CommandStore } from '../ports/command-store';
import type { DeviceInventoryStore } from '../ports/device-inventory-store';
import type { LogUploads, PresignedPost } from '../ports/log-uploads';
import { decodeCursor, encodeCursor } from './page-cursor';

/** CommandStore in memory, with the same ordering and transition rules as the DynamoDB one. */
export class InMemoryCommandStore implements CommandStore {
  readonly #items = new Map<string, DeviceCommand>();

  async create(command: DeviceCommand): Promise<void> {
    const key = `${command.deviceId}/${command.commandId}`;
    if (this.#items.has(key)) throw new Error(`command ${key} exists`);
    this.#items.set(key, command);
  }

  async get(deviceId: string, commandId: string): Promise<DeviceCommand | undefined> {
    return this.#items.get(`${deviceId}/${commandId}`);
  }

  async list(deviceId: string, query: { limit: number; cursor?: string }): Promise<CommandPage> {
    const after = query.cursor
      ? decodeCursor<{ commandId: string }>(query.cursor, (k) => typeof k.commandId === 'string').commandId
      : undefined;
    const all = [...this.#items.values()]
      .filter((c) => c.deviceId === deviceId && (after === undefined || c.commandId < after))
      .sort((a, b) => b.commandId.localeCompare(a.commandId));
    const items = all.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items,
      ...(all.length > query.limit && last
        ? { nextCursor: encodeCursor({ commandId: last.commandId }) }
        : {}),
    };
  }

  async transition(deviceId: string, commandId: string, t: CommandTransition): Promise<boolean> {
    const key = `${deviceId}/${commandId}`;
    const command = this.#items.get(key);
    if (!command || !mayTransition(command.status, t.status)) return false;
    const at = t.at.toISOString();
    this.#items.set(key, {
      ...command,
      status: t.status,
      updatedAt: at,
      ...(t.status === 'IN_PROGRESS' ? { startedAt: command.startedAt ?? at } : { completedAt: at }),
      ...(t.statusReason !== undefined ? { statusReason: t.statusReason } : {}),
      ...(t.result !== undefined ? { result: t.result } : {}),
    });
    return true;
  }
}

/** CommandJobs in memory: executions the test moves by hand (`setExecution`). */
export class InMemoryCommandJobs implements CommandJobs {
  readonly created: { deviceId: string; document: CommandJobDocumentV1; inProgressTimeoutMinutes: number }[] =
    [];
  readonly executions = new Map<string, CommandExecution>();
  failCreate: Error | undefined;

  async create(
    deviceId: string,
    document: CommandJobDocumentV1,
    settings: { inProgressTimeoutMinutes: number },
  ) {
    if (this.failCreate) throw this.failCreate;
    this.created.push({ deviceId, document, inProgressTimeoutMinutes: settings.inProgressTimeoutMinutes });
    this.executions.set(`${deviceId}/${document.commandId}`, { status: 'QUEUED' });
  }

  setExecution(deviceId: string, jobId: string, execution: CommandExecution): void {
    this.executions.set(`${deviceId}/${jobId}`, execution);
  }

  async cancelQueued(
    deviceId: string,
    jobId: string,
    statusDetails: Record<string, string>,
  ): Promise<CancelOutcome> {
    const key = `${deviceId}/${jobId}`;
    const execution = this.executions.get(key);
    if (!execution) return 'missing';
    if (execution.status === 'IN_PROGRESS') return 'in-progress';
    if (execution.status !== 'QUEUED') return 'already-ended';
    this.executions.set(key, { status: 'CANCELED', statusDetails });
    return 'canceled';
  }

  async describe(deviceId: string, jobId: string): Promise<CommandExecution | undefined> {
    return this.executions.get(`${deviceId}/${jobId}`);
  }
}

export class InMemoryCommandExpiry implements CommandExpiryScheduler {
  readonly scheduled: { deviceId: string; commandId: string; at: Date }[] = [];
  failSchedule: Error | undefined;

  async schedule(deviceId: string, commandId: string, at: Date): Promise<void> {
    if (this.failSchedule) throw this.failSchedule;
    this.scheduled.push({ deviceId, commandId, at });
  }
}

export class InMemoryLogUploads implements LogUploads {
  keyFor(deviceId: string, commandId: string): string {
    return `device-logs/${deviceId}/${commandId}.log.gz`;
  }

  async presignUpload(key: string, maxBytes: number, expiresInSeconds: number): Promise<PresignedPost> {
    return {
      url: 'https://logs.example/upload',
      fields: { key, maxBytes: String(maxBytes) },
      expiresAt: new Date(Date.now() + expiresInSeconds * 1000),
    };
  }

  async presignDownload(key: string, expiresInSeconds: number): Promise<string> {
    return `https://logs.example/${key}?expires=${expiresInSeconds}`;
  }
}

export class InMemoryDeviceInventoryStore implements DeviceInventoryStore {
  readonly inventories = new Map<string, DeviceInventoryV1>();
  constructor(private readonly registered: (deviceId: string) => boolean) {}

  async record(deviceId: string, inventory: DeviceInventoryV1): Promise<boolean> {
    const stored = this.inventories.get(deviceId);
    if (!this.registered(deviceId)) return false;
    if (stored && Date.parse(stored.reportedAt) >= Date.parse(inventory.reportedAt)) return false;
    this.inventories.set(deviceId, inventory);
    return true;
  }
}
