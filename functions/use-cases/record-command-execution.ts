import type { JobExecutionStatus } from '../../contract/iot-jobs';
import { isCommandJobId, transitionFromExecution } from '../domain/device-command';
import type { CommandStore } from '../ports/command-store';

export interface CommandExecutionReport {
  readonly jobId: string;
  readonly deviceId: string;
  readonly status: JobExecutionStatus;
  readonly statusDetails?: Readonly<Record<string, string>>;
  readonly at: Date;
}

export type CommandExecutionOutcome = 'applied' | 'ignored' | 'not-a-command-job';

/**
 * Records what AWS IoT said of a command's execution (from the job execution event queue).
 * 1. A job not named `cmd-…` is not a command: nothing to do here.
 * 2. The status and the device's statusDetails become the command's status and result
 *    (domain/device-command.ts transitionFromExecution).
 * 3. The store applies it only if the stored status allows it: a repeated or late event, or one
 *    after the expiry already ended the command, writes nothing.
 */
export const makeRecordCommandExecution =
  (ports: { readonly commands: Pick<CommandStore, 'transition'> }) =>
  async (report: CommandExecutionReport): Promise<CommandExecutionOutcome> => {
    if (!isCommandJobId(report.jobId)) return 'not-a-command-job';
    const transition = transitionFromExecution(report.status, report.statusDetails, report.at);
    if (!transition) return 'ignored';
    return (await ports.commands.transition(report.deviceId, report.jobId, transition))
      ? 'applied'
      : 'ignored';
  };
