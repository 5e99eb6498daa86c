import { isTerminal } from '../domain/device-command';
import type { Clock } from '../ports/clock';
import type { CancelOutcome, CommandJobs } from '../ports/command-jobs';
import type { CommandStore } from '../ports/command-store';

export type ExpireOutcome = 'expired' | 'already-ended' | 'running' | 'not-due' | 'missing';

/** Details the cancellation carries, so that its CANCELED event reads as an expiry too. */
export const EXPIRED_DETAILS = { reason: 'expired' } as const;

/**
 * Ends a command whose expiry came (called once by its one-shot schedule, maybe again on retry).
 * 1. A missing or ended command: nothing to do.
 * 2. Early (a clock or a retry ahead of time): nothing; the schedule's time is the contract.
 * 3. Cancel its execution if the device has not taken it. A device that has started it keeps it:
 *    it reports a result, or the in-progress timeout ends it (TIMED_OUT).
 * 4. Canceled (or AWS IoT has no execution): mark EXPIRED, conditionally, so a result that won
 *    the race stands.
 */
export const makeExpireDeviceCommand =
  (ports: {
    readonly commands: Pick<CommandStore, 'get' | 'transition'>;
    readonly jobs: Pick<CommandJobs, 'cancelQueued'>;
    readonly clock: Clock;
  }) =>
  async (deviceId: string, commandId: string): Promise<ExpireOutcome> => {
    const command = await ports.commands.get(deviceId, commandId);
    if (!command) return 'missing';
    if (isTerminal(command.status)) return 'already-ended';
    const now = ports.clock.now();
    if (now.getTime() < Date.parse(command.expiresAt)) return 'not-due';
    const outcome: CancelOutcome = await ports.jobs.cancelQueued(deviceId, command.jobId, {
      ...EXPIRED_DETAILS,
    });
    if (outcome === 'in-progress') return 'running';
    if (outcome === 'already-ended') return 'already-ended';
    const written = await ports.commands.transition(deviceId, commandId, {
      status: 'EXPIRED',
      at: now,
      statusReason: 'expired before the device took it',
      result: { ...EXPIRED_DETAILS },
    });
    return written ? 'expired' : 'already-ended';
  };
