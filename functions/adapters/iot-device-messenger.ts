import type { DeviceMessenger } from '../ports/device-messenger';
import type { IotDataApi } from '../shared/aws-api/iot-data';

/** DeviceMessenger on the AWS IoT data plane's Publish (HTTP, QoS 1). */
export class IotDeviceMessenger implements DeviceMessenger {
  constructor(private readonly iotData: IotDataApi) {}

  async publish(topic: string, payload: unknown): Promise<void> {
    await this.iotData.publish({ topic, payload: JSON.stringify(payload), qos: 1 });
  }
}
