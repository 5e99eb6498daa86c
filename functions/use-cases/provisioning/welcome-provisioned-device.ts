import { CONFIG_SHADOW_NAME } from '../../../contract/device-config';
import {
  type HelloAcceptedV1,
  type HelloRejectedV1,
  type HelloRequestV1,
  helloTopics,
} from '../../../contract/provisioning';
import type { Device } from '../../domain/device';
import { DeviceAlreadyExistsError } from '../../domain/errors';
import type { Clock } from '../../ports/clock';
import type { DeviceMessenger } from '../../ports/device-messenger';
import type { FleetStore } from '../../ports/fleet-store';
import type { ProvisioningAllowlist } from '../../ports/provisioning-allowlist';

export interface HelloMessage {
  /** The topic's device id: AWS IoT lets only that thing's certificate publish there. */
  readonly deviceId: string;
  /** The connection's certificate (the rule's `principal()`). */
  readonly certificateId: string;
  readonly request: HelloRequestV1;
}

export type WelcomeOutcome = 'recorded' | 'already-recorded' | 'rejected';

/**
 * Answers a device's first "hello" on its own identity, and for a device provisioned by claim
 * writes its registry record (the same item `POST /devices` writes):
 * 1. a device with a record answers from it, if the certificate is the record's;
 * 2. otherwise the allowlist entry must be claimed by this very certificate (the hook did that,
 *    and AWS IoT only lets an active certificate of this thing connect): the record is written
 *    registered, with site, region and hardware type from the entry, in one conditional put (a
 *    repeated hello finds it in step 1); its merged configuration goes into its `config` shadow;
 * 3. the answer carries the newest trust root and the configuration; a device that is neither is
 *    told why on `…/hello/rejected`, and nothing is written.
 * Idempotent, so SQS may deliver a hello twice.
 */
export const makeWelcomeProvisionedDevice =
  (ports: {
    readonly allowlist: Pick<ProvisioningAllowlist, 'getEntry'>;
    readonly fleetStore: Pick<FleetStore, 'getDevice' | 'createDevice'>;
    /** Delivers the device's merged configuration into its `config` shadow (makeDeliverDeviceConfig). */
    readonly deliverConfig: (deviceId: string) => Promise<{ readonly outcome: string }>;
    readonly messenger: DeviceMessenger;
    readonly trustRoot: () => Promise<unknown | undefined>;
    readonly clock: Clock;
  }) =>
  async ({ deviceId, certificateId, request }: HelloMessage): Promise<WelcomeOutcome> => {
    const topics = helloTopics(deviceId);
    const reject = async (reason: string): Promise<WelcomeOutcome> => {
      const answer: HelloRejectedV1 = { schemaVersion: 1, requestId: request.requestId, reason };
      await ports.messenger.publish(topics.rejected, answer);
      return 'rejected';
    };

    let device = await ports.fleetStore.getDevice(deviceId);
    let outcome: WelcomeOutcome = 'already-recorded';
    if (device && device.certificateId !== certificateId)
      return reject('this certificate is not the one registered for the device');
    if (!device) {
      const entry = await ports.allowlist.getEntry(deviceId);
      if (entry?.claim?.certificateId !== certificateId)
        return reject('the device was not provisioned by claim with this certificate');
      const now = ports.clock.now().toISOString();
      const record: Device = {
        deviceId,
        site: entry.site,
        region: entry.region,
        hardwareType: entry.hardwareType,
        status: 'registered',
        registeredAt: now,
        certificateId,
        // It is connected: it just said hello. Later presence events move it on from here.
        connection: { state: 'connected', changedAt: now },
      };
      try {
        await ports.fleetStore.createDevice(record);
        outcome = 'recorded';
        device = record;
      } catch (error) {
        if (!(error instanceof DeviceAlreadyExistsError)) throw error;
        // A concurrent hello (or an operator) wrote it first: answer from what is there.
        device = await ports.fleetStore.getDevice(deviceId);
        if (device?.certificateId !== certificateId)
          return reject('this certificate is not the one registered for the device');
      }
    }

    // Every hello, not only the first: a retry after a failed delivery still delivers it.
    const { outcome: delivery } = await ports.deliverConfig(deviceId);
    const trustRoot = await ports.trustRoot();
    const answer: HelloAcceptedV1 = {
      schemaVersion: 1,
      requestId: request.requestId,
      deviceId,
      site: device.site,
      region: device.region,
      hardwareType: device.hardwareType,
      ...(trustRoot === undefined ? {} : { trustRoot }),
      configuration: { shadowName: CONFIG_SHADOW_NAME, delivery },
    };
    await ports.messenger.publish(topics.accepted, answer);
    return outcome;
  };
