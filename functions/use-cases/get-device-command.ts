import {
  type DeviceCommand,
  isTerminal,
  mayTransition,
  transitionFromExecution,
} from '../domain/device-command';
import { CommandNotFoundError } from '../domain/errors';
import type { Clock } from '../ports/clock';
import type { CommandJobs } from '../ports/command-jobs';
import type { CommandStore } from '../ports/command-store';
import type { LogUploads } from '../ports/log-uploads';

/** How long an operator's log download link lives. */
export const LOG_DOWNLOAD_URL_SECONDS = 300;

export interface DeviceCommandDetail {
  readonly command: DeviceCommand;
  /** For a finished log upload: a short-lived GET of the object. */
  readonly logDownload?: { readonly url: string; readonly expiresInSeconds: number };
}

/**
 * One command, as fresh as AWS IoT knows it.
 * 1. Read the record (404 if none).
 * 2. If it has not ended, ask AWS IoT for its execution: AWS IoT publishes no event when a device
 *    starts a job (only terminal ones), so this is where IN_PROGRESS shows. A newer status is
 *    written back (conditionally, as the event path does) and shown.
 * 3. A finished upload-logs command gets a short-lived download URL of its object, whose key the
 *    backend chose (never the device's statusDetails).
 */
export const makeGetDeviceCommand =
  (ports: {
    readonly commands: Pick<CommandStore, 'get' | 'transition'>;
    readonly jobs: Pick<CommandJobs, 'describe'>;
    readonly logs: Pick<LogUploads, 'keyFor' | 'presignDownload'>;
    readonly clock: Clock;
  }) =>
  async (deviceId: string, commandId: string): Promise<DeviceCommandDetail> => {
    let command = await ports.commands.get(deviceId, commandId);
    if (!command) throw new CommandNotFoundError(deviceId, commandId);
    if (!isTerminal(command.status)) {
      const execution = await ports.jobs.describe(deviceId, command.jobId);
      const transition =
        execution && transitionFromExecution(execution.status, execution.statusDetails, ports.clock.now());
      if (transition && mayTransition(command.status, transition.status)) {
        await ports.commands.transition(deviceId, commandId, transition);
        command = (await ports.commands.get(deviceId, commandId)) ?? command;
      }
    }
    if (command.command !== 'upload-logs' || command.status !== 'SUCCEEDED' || !command.result?.objectKey)
      return { command };
    const key = ports.logs.keyFor(deviceId, commandId);
    const url = await ports.logs.presignDownload(key, LOG_DOWNLOAD_URL_SECONDS);
    return { command, logDownload: { url, expiresInSeconds: LOG_DOWNLOAD_URL_SECONDS } };
  };
