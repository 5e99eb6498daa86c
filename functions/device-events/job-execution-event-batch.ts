import { logger } from '../shared/observability';
import type { makeRecordJobExecutionEvent } from '../use-cases/rollouts/record-job-execution-event';
import { type DeviceEventBatch, makeDeviceEventBatch } from './device-event-batch';
import { JobExecutionEventV1 } from './schemas';

/** AWS IoT job execution events, from the job execution rule's queue. */
export const makeJobExecutionEventBatch = (ports: {
  readonly recordJobExecutionEvent: ReturnType<typeof makeRecordJobExecutionEvent>;
}): DeviceEventBatch =>
  makeDeviceEventBatch('job execution event', JobExecutionEventV1, async (execution) => {
    const outcome = await ports.recordJobExecutionEvent(execution);
    logger.info('Job execution event', { ...execution, at: execution.at.toISOString(), outcome });
  });
