import { logger } from '../shared/observability';
import type { makeRecordCommandExecution } from '../use-cases/record-command-execution';
import type { makeRecordJobExecutionEvent } from '../use-cases/rollouts/record-job-execution-event';
import { type DeviceEventBatch, makeDeviceEventBatch } from './device-event-batch';
import { JobExecutionEventV1 } from './schemas';

/**
 * AWS IoT job execution events, from the job execution rule's queue: a remote command's job
 * (`cmd-…`) goes to the command's record, any other to the rollouts.
 */
export const makeJobExecutionEventBatch = (ports: {
  readonly recordJobExecutionEvent: ReturnType<typeof makeRecordJobExecutionEvent>;
  readonly recordCommandExecution?: ReturnType<typeof makeRecordCommandExecution>;
}): DeviceEventBatch =>
  makeDeviceEventBatch('job execution event', JobExecutionEventV1, async (execution) => {
    const command = await ports.recordCommandExecution?.(execution);
    const outcome =
      command === undefined || command === 'not-a-command-job'
        ? await ports.recordJobExecutionEvent(execution)
        : command;
    logger.info('Job execution event', { ...execution, at: execution.at.toISOString(), outcome });
  });
