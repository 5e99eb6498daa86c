import { type IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import {
  type BandwidthPolicy,
  bandwidthPolicyShadowValue,
  SHADOW_BANDWIDTH_POLICY_KEY,
  SHADOW_NAMESPACE,
} from '../../contract/bandwidth-policy';
import type { DeviceShadow } from '../ports/device-shadow';

/**
 * DeviceShadow on the AWS IoT data plane: one UpdateThingShadow of the device's classic shadow
 * per call. AWS IoT then tells a connected device on `…/shadow/update/delta` (and an offline one
 * when it next asks with `…/shadow/get`).
 */
export class IotDeviceShadow implements DeviceShadow {
  /** @param client resolved lazily: finding the data endpoint may take an API call. */
  constructor(private readonly client: () => Promise<IoTDataPlaneClient>) {}

  async setDesiredBandwidthPolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<void> {
    const document = {
      state: {
        desired: {
          [SHADOW_NAMESPACE]: { [SHADOW_BANDWIDTH_POLICY_KEY]: bandwidthPolicyShadowValue(policy) },
        },
      },
    };
    await (await this.client()).send(
      new UpdateThingShadowCommand({
        thingName: deviceId,
        payload: new TextEncoder().encode(JSON.stringify(document)),
      }),
    );
  }
}
