/**
 * The rollout adapters, each made on first use from its environment variables, so a Lambda
 * needs (and is granted) only the ones it uses; a missing variable fails with its name.
 * One module per client set, so a bundle carries only the AWS clients its handler reaches:
 * this one holds the DynamoDB stores (and the clock), which every rollout handler needs. The
 * trust store is in trust-repository.ts: it brings the TUF metadata models along.
 */
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbDeltaStore } from '../../adapters/dynamodb-delta-store';
import { DynamoDbReleaseCatalog } from '../../adapters/dynamodb-release-catalog';
import { DynamoDbRolloutStore } from '../../adapters/dynamodb-rollout-store';
import { systemClock } from '../../ports/clock';
import { requireEnv } from '../env';
import { once } from '../once';

export const rollouts = once(() => new DynamoDbRolloutStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')));
export const releases = once(
  () =>
    new DynamoDbReleaseCatalog(dynamoDb, requireEnv('FLEET_TABLE_NAME'), requireEnv('ARTIFACT_BUCKET_NAME')),
);
export const deltas = once(() => new DynamoDbDeltaStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')));
export const clock = systemClock;
