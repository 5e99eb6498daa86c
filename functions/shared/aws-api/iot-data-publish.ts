/**
 * The AWS IoT data-plane Publish call (a message to one device's topic), on AwsService; the
 * endpoint is found as in iot-data.ts: IOT_DATA_ENDPOINT, else the configured endpoint (local
 * AWS), else the region's `data-ats` endpoint, so no DescribeEndpoint is needed.
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export class IotDataPublishApi {
  readonly #service = new AwsService({
    signingName: 'iotdata',
    endpointId: 'IOT_DATA_PLANE',
    host: (region) =>
      region === 'cn-north-1'
        ? 'data.ats.iot.cn-north-1.amazonaws.com.cn'
        : `data-ats.iot.${region}.${dnsSuffix(region)}`,
  });

  /** Publishes `payload` (JSON) on `topic` with QoS 1. */
  async publish(input: { topic: string; payload: unknown }): Promise<void> {
    const configured = process.env.IOT_DATA_ENDPOINT;
    const response = await this.#service.send({
      method: 'POST',
      ...(configured ? { origin: `https://${configured}` } : {}),
      path: encodePath('topics', input.topic),
      query: { qos: 1 },
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(input.payload),
    });
    await response.arrayBuffer();
  }
}
