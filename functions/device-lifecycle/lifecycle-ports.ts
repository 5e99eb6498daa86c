/**
 * The ports every lifecycle Lambda shares, built once per container from its environment:
 * FLEET_TABLE_NAME, DEVICE_POLICY_NAME and QUARANTINE_POLICY_NAME (a missing one fails at cold
 * start, naming it).
 */
import { dynamoDb } from '#clients/dynamodb';
import { iot } from '#clients/iot';
import { iotLifecycle } from '#clients/iot-lifecycle';
import { DynamoDbDeviceLifecycleStore } from '../adapters/dynamodb-device-lifecycle-store';
import { IotDeviceCertificates } from '../adapters/iot-device-certificates';
import { systemClock } from '../ports/clock';
import { requireEnv } from '../shared/env';

export const lifecyclePorts = () => ({
  store: new DynamoDbDeviceLifecycleStore(dynamoDb, requireEnv('FLEET_TABLE_NAME')),
  certificates: new IotDeviceCertificates(iot, iotLifecycle, {
    device: requireEnv('DEVICE_POLICY_NAME'),
    quarantine: requireEnv('QUARANTINE_POLICY_NAME'),
  }),
  clock: systemClock,
});
