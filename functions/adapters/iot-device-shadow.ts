import {
  type BandwidthPolicy,
  bandwidthPolicyShadowValue,
  SHADOW_BANDWIDTH_POLICY_KEY,
  SHADOW_NAMESPACE,
} from '../../contract/bandwidth-policy';
import type { DeviceShadow } from '../ports/device-shadow';
import type { IotDataApi } from '../shared/aws-api/iot-data';

/**
 * DeviceShadow on the AWS IoT data plane: one UpdateThingShadow of the device's classic shadow
 * per call. AWS IoT then tells a connected device on `…/shadow/update/delta` (and an offline one
 * when it next asks with `…/shadow/get`).
 */
export class IotDeviceShadow implements DeviceShadow {
  constructor(private readonly iotData: IotDataApi) {}

  async setDesiredBandwidthPolicy(deviceId: string, policy: BandwidthPolicy | undefined): Promise<void> {
    const document = {
      state: {
        desired: {
          [SHADOW_NAMESPACE]: { [SHADOW_BANDWIDTH_POLICY_KEY]: bandwidthPolicyShadowValue(policy) },
        },
      },
    };
    await this.iotData.updateThingShadow({ thingName: deviceId, document });
  }
}
