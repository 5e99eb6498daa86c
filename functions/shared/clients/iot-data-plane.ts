/** The AWS IoT data-plane client (device shadows), made on first use once its endpoint is known. */
import { DescribeEndpointCommand } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { iot } from './iot';

let iotDataPlaneClient: Promise<IoTDataPlaneClient> | undefined;

/**
 * The AWS IoT data plane lives on the account's own endpoint: `IOT_DATA_ENDPOINT` (host name)
 * if set, else local AWS's AWS_ENDPOINT_URL (whose DescribeEndpoint names the wrong port), else
 * what DescribeEndpoint says for `iot:Data-ATS`.
 * Looked up once per container; a failed lookup is tried again on the next call.
 */
export function iotDataPlane(): Promise<IoTDataPlaneClient> {
  iotDataPlaneClient ??= (async () => {
    const configured = process.env.IOT_DATA_ENDPOINT;
    if (configured) return new IoTDataPlaneClient({ endpoint: `https://${configured}` });
    if (process.env.AWS_ENDPOINT_URL !== undefined) return new IoTDataPlaneClient({});
    const { endpointAddress } = await iot.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
    if (!endpointAddress) throw new Error('AWS IoT returned no data endpoint');
    return new IoTDataPlaneClient({ endpoint: `https://${endpointAddress}` });
  })();
  iotDataPlaneClient.catch(() => {
    iotDataPlaneClient = undefined;
  });
  return iotDataPlaneClient;
}
