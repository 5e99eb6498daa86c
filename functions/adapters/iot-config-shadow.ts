import { CONFIG_SHADOW_NAME, shadowPatch, withoutNulls } from '../../contract/device-config';
import type { ConfigShadow } from '../ports/config-shadow';
import type { IotDataApi } from '../shared/aws-api/iot-data';

/**
 * ConfigShadow on the AWS IoT data plane: the device's `config` named shadow. AWS IoT merges an
 * update into the document field by field, so the update is a patch against the desired state
 * read just before (GetThingShadow): fields the new state lacks are set to null, which removes
 * them. AWS IoT then tells a connected device on `…/shadow/name/config/update/documents` (and
 * `…/delta`), and an offline one when it next asks with `…/get`.
 */
export class IotConfigShadow implements ConfigShadow {
  constructor(private readonly iotData: IotDataApi) {}

  async writeDesired(deviceId: string, desired: Readonly<Record<string, unknown>>): Promise<void> {
    const current = await this.iotData.getThingShadow({
      thingName: deviceId,
      shadowName: CONFIG_SHADOW_NAME,
    });
    const state = (current as { state?: { desired?: unknown } } | undefined)?.state?.desired;
    await this.iotData.updateThingShadow({
      thingName: deviceId,
      shadowName: CONFIG_SHADOW_NAME,
      document: { state: { desired: shadowPatch(withoutNulls(state), desired) } },
    });
  }
}
