/** Where a started rollout's plan waits, in pieces, until its executions are written: S3. */
import { s3 } from '#clients/s3';
import { S3RolloutPlanStore } from '../../adapters/s3-rollout-plan-store';
import { requireEnv } from '../env';
import { once } from '../once';

export const plans = once(() => new S3RolloutPlanStore(s3, requireEnv('ARTIFACT_BUCKET_NAME')));
