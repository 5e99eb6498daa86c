/** The AWS IoT Jobs that carry a rollout's waves to devices. */
import { iot } from '#clients/iot';
import { IotJobDispatcher } from '../../adapters/iot-job-dispatcher';
import { requireEnv } from '../env';
import { once } from '../once';

export const jobs = once(
  () =>
    new IotJobDispatcher(iot, {
      presignRoleArn: requireEnv('PRESIGN_ROLE_ARN'),
      presignExpiresInSec: 3600,
      inProgressTimeoutMinutes: Number(requireEnv('JOB_IN_PROGRESS_TIMEOUT_MINUTES')),
      maximumPerMinute: 1000,
    }),
);
