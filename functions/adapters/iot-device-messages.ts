import type { DeviceMessages } from '../ports/device-messages';
import type { IotDataApi } from '../shared/aws-api/iot-data';

/** DeviceMessages through the AWS IoT data plane's Publish (QoS 1). */
export class IotDeviceMessages implements DeviceMessages {
  constructor(private readonly iotData: IotDataApi) {}

  publish(topic: string, payload: unknown): Promise<void> {
    return this.iotData.publish({ topic, payload: JSON.stringify(payload), qos: 1 });
  }
}
