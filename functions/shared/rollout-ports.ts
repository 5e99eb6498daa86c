/**
 * The rollout adapters, each made on first use from its environment variables, so a Lambda
 * needs (and is granted) only the ones it uses; a missing variable fails with its name.
 */
import { DynamoDbDeltaStore } from '../adapters/dynamodb-delta-store';
import { DynamoDbReleaseCatalog } from '../adapters/dynamodb-release-catalog';
import { DynamoDbRolloutStore } from '../adapters/dynamodb-rollout-store';
import { DynamoDbTrustStore } from '../adapters/dynamodb-trust-store';
import { FleetTargetResolver } from '../adapters/fleet-target-resolver';
import { IotJobDispatcher } from '../adapters/iot-job-dispatcher';
import { S3TrustFiles } from '../adapters/s3-trust-files';
import { SfnRolloutOrchestrator } from '../adapters/sfn-rollout-orchestrator';
import { systemClock } from '../ports/clock';
import { makePlanRollout } from '../use-cases/rollouts/plan-rollout';
import { makeRollbackRollout } from '../use-cases/rollouts/rollback-rollout';
import { makeStartRollout } from '../use-cases/rollouts/start-rollout';
import { dynamoDb, iot, s3, sfn } from './clients';
import { requireEnv } from './env';

const once = <T>(make: () => T) => {
  let value: T | undefined;
  return () => {
    value ??= make();
    return value;
  };
};

export const rollouts = once(() => new DynamoDbRolloutStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')));
export const releases = once(
  () =>
    new DynamoDbReleaseCatalog(dynamoDb, requireEnv('FLEET_TABLE_NAME'), requireEnv('ARTIFACT_BUCKET_NAME')),
);
/** The trust repository's bookkeeping and the locations of its files (read only here). */
export const trustRepository = once(() => ({
  store: new DynamoDbTrustStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  files: new S3TrustFiles(s3, requireEnv('ARTIFACT_BUCKET_NAME')),
}));
export const deltas = once(() => new DynamoDbDeltaStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')));
export const targets = once(() => new FleetTargetResolver(dynamoDb, requireEnv('FLEET_TABLE_NAME'), iot));
export const orchestrator = once(
  () => new SfnRolloutOrchestrator(sfn, requireEnv('ROLLOUT_STATE_MACHINE_ARN')),
);
export const jobs = once(
  () =>
    new IotJobDispatcher(iot, {
      presignRoleArn: requireEnv('PRESIGN_ROLE_ARN'),
      presignExpiresInSec: 3600,
      inProgressTimeoutMinutes: Number(requireEnv('JOB_IN_PROGRESS_TIMEOUT_MINUTES')),
      maximumPerMinute: 1000,
    }),
);
export const clock = systemClock;

export const planRollout = once(() =>
  makePlanRollout({ releases: releases(), targets: targets(), rollouts: rollouts() }),
);
export const startRollout = once(() =>
  makeStartRollout({
    releases: releases(),
    targets: targets(),
    rollouts: rollouts(),
    orchestrator: orchestrator(),
    clock,
    trust: trustRepository().store,
  }),
);
export const rollbackRollout = once(() =>
  makeRollbackRollout({ rollouts: rollouts(), releases: releases(), startRollout: startRollout() }),
);
