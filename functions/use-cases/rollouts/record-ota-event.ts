import type { OtaEventV1 } from '../../../contract/ota';
import { ValidationError } from '../../domain/errors';
import { waveOfJob } from '../../domain/rollout';
import type { RolloutStore } from '../../ports/rollout-store';

/**
 * Records a device's OTA progress. A device speaks only for itself (the topic's thing name must
 * be the event's device) and only about a job of the rollout it names. Duplicated or reordered
 * events change nothing (the store applies an event only if its seq is newer).
 */
export const makeRecordOtaEvent =
  ({ rollouts }: { rollouts: RolloutStore }) =>
  async (event: OtaEventV1, thingName: string): Promise<'applied' | 'ignored'> => {
    if (event.deviceId !== thingName) {
      throw new ValidationError(`Device ${thingName} reported for ${event.deviceId}`, [
        { field: 'deviceId', message: 'must be the publishing thing' },
      ]);
    }
    const waveIndex = waveOfJob(event.rolloutId, event.jobId);
    if (waveIndex === undefined) {
      throw new ValidationError(`Job ${event.jobId} is not a job of rollout ${event.rolloutId}`, [
        { field: 'jobId', message: 'not a wave job of the rollout' },
      ]);
    }
    return (await rollouts.applyOtaEvent(event, waveIndex)) ? 'applied' : 'ignored';
  };
