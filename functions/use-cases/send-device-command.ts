import {
  type CommandName,
  type CommandParameters,
  MAX_COMMAND_DOCUMENT_BYTES,
} from '../../contract/device-commands';
import {
  commandDocument,
  type DeviceCommand,
  IN_PROGRESS_TIMEOUT_MINUTES,
  newCommandId,
} from '../domain/device-command';
import { DeviceNotFoundError, ValidationError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { CommandExpiryScheduler } from '../ports/command-expiry';
import type { CommandJobs } from '../ports/command-jobs';
import type { CommandStore } from '../ports/command-store';
import type { FleetStore } from '../ports/fleet-store';

export interface SendDeviceCommandInput {
  readonly deviceId: string;
  readonly command: CommandName;
  readonly parameters: CommandParameters;
  readonly expiresInSeconds: number;
  readonly requestedBy: string;
  readonly requestId: string;
}

export interface SendDeviceCommandPorts {
  readonly fleet: Pick<FleetStore, 'getDevice'>;
  readonly commands: CommandStore;
  readonly jobs: CommandJobs;
  readonly expiry: CommandExpiryScheduler;
  readonly clock: Clock;
  /** 12 hex characters of randomness for the command id. */
  readonly randomHex: () => string;
}

/**
 * Sends one command to one device.
 * 1. The device must exist and be registered (else 404, nothing written).
 * 2. The job document is built and checked against AWS IoT's 32 KB before anything is written.
 * 3. The command is recorded QUEUED with its audit (who, when, what, parameters, request id).
 * 4. Its expiry is scheduled, before the job exists: a job that could never expire is worse than
 *    none. If scheduling fails, the command is marked FAILED and no job is created.
 * 5. The job is created for the device's thing, with an in-progress timeout. If that fails, the
 *    command is marked FAILED (the schedule finds it ended and does nothing).
 */
export const makeSendDeviceCommand =
  (ports: SendDeviceCommandPorts) =>
  async (input: SendDeviceCommandInput): Promise<DeviceCommand> => {
    const device = await ports.fleet.getDevice(input.deviceId);
    if (device?.status !== 'registered') throw new DeviceNotFoundError(input.deviceId);
    const now = ports.clock.now();
    const commandId = newCommandId(now, ports.randomHex());
    const command: DeviceCommand = {
      deviceId: input.deviceId,
      commandId,
      command: input.command,
      parameters: input.parameters,
      status: 'QUEUED',
      requestedBy: input.requestedBy,
      requestedAt: now.toISOString(),
      requestId: input.requestId,
      expiresAt: new Date(now.getTime() + input.expiresInSeconds * 1000).toISOString(),
      jobId: commandId,
      updatedAt: now.toISOString(),
    };
    const document = commandDocument(command);
    const bytes = Buffer.byteLength(JSON.stringify(document));
    if (bytes > MAX_COMMAND_DOCUMENT_BYTES)
      throw new ValidationError(`The command's job document is ${bytes} bytes, over AWS IoT's 32 KB`, [
        {
          field: 'parameters',
          message: `the job document would be ${bytes} bytes (at most ${MAX_COMMAND_DOCUMENT_BYTES})`,
        },
      ]);
    await ports.commands.create(command);
    const fail = async (step: string, error: unknown): Promise<never> => {
      await ports.commands.transition(input.deviceId, commandId, {
        status: 'FAILED',
        at: ports.clock.now(),
        statusReason: `dispatch-failed: ${step}: ${(error as Error).message}`.slice(0, 1000),
      });
      throw error;
    };
    await ports.expiry
      .schedule(input.deviceId, commandId, new Date(command.expiresAt))
      .catch((error) => fail('expiry schedule', error));
    await ports.jobs
      .create(input.deviceId, document, {
        inProgressTimeoutMinutes: IN_PROGRESS_TIMEOUT_MINUTES[input.command],
      })
      .catch((error) => fail('job', error));
    return command;
  };
