/** Which devices a rollout targets: the fleet table and AWS IoT thing groups. */
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { FleetTargetResolver } from '../../adapters/fleet-target-resolver';
import { requireEnv } from '../env';
import { once } from '../once';

export const targets = once(() => new FleetTargetResolver(dynamoDb, requireEnv('FLEET_TABLE_NAME'), iot));
