/**
 * The AWS IoT data-plane call EdgeOps Lambdas make (UpdateThingShadow), on AwsService
 * (aws-service.ts says why not the SDK's client). The data plane is at IOT_DATA_ENDPOINT (a host
 * name) if set, else at the configured endpoint (local AWS), else at the host the SDK would use:
 * AWS IoT's `data-ats` endpoint of the region, which serves every account, so no DescribeEndpoint
 * (and no iot:DescribeEndpoint permission) is needed to find it.
 */
import { AwsService, dnsSuffix, encodePath } from './aws-service';

export class IotDataApi {
  readonly #service = new AwsService({
    signingName: 'iotdata',
    endpointId: 'IOT_DATA_PLANE',
    host: (region) =>
      region === 'cn-north-1'
        ? 'data.ats.iot.cn-north-1.amazonaws.com.cn'
        : `data-ats.iot.${region}.${dnsSuffix(region)}`,
  });

  /** UpdateThingShadow of the thing's classic shadow (or the named one): `document` as JSON. */
  async updateThingShadow(input: {
    thingName: string;
    shadowName?: string;
    document: unknown;
  }): Promise<void> {
    const configured = process.env.IOT_DATA_ENDPOINT;
    const response = await this.#service.send({
      method: 'POST',
      ...(configured ? { origin: `https://${configured}` } : {}),
      path: `${encodePath('things', input.thingName)}/shadow`,
      query: { name: input.shadowName },
      headers: { 'content-type': 'application/octet-stream' },
      body: JSON.stringify(input.document),
    });
    await response.arrayBuffer();
  }
}
