/**
 * Devices' latest telemetry, for the waves' telemetry gates. Its own module, so only the steps
 * function, which checks the gates, carries the adapter.
 */
import { dynamoDb } from '#clients/dynamodb';
import { DynamoDbTelemetryBaseline } from '../../adapters/dynamodb-telemetry-baseline';
import { requireEnv } from '../env';
import { once } from '../once';

export const telemetryBaseline = once(
  () => new DynamoDbTelemetryBaseline(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
);
