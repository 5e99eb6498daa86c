/**
 * SDK clients, made once per Lambda container and shared by every invocation.
 * They honour AWS_ENDPOINT_URL, which points them at local AWS when it is set.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeEndpointCommand, IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { markRequestsAsTls } from './local-aws-tls';

export const dynamoDb = DynamoDBDocumentClient.from(new DynamoDBClient({}), {
  marshallOptions: { removeUndefinedValues: true },
});

export const iot = new IoTClient({});

export const sfn = new SFNClient({});

let iotDataPlaneClient: Promise<IoTDataPlaneClient> | undefined;

/**
 * The AWS IoT data plane (device shadows) lives on the account's own endpoint:
 * `IOT_DATA_ENDPOINT` (host name) if set, else local AWS's AWS_ENDPOINT_URL (whose
 * DescribeEndpoint names the wrong port), else what DescribeEndpoint says for `iot:Data-ATS`.
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

const localAws = process.env.AWS_ENDPOINT_URL !== undefined;

export const s3 = new S3Client({
  // Local AWS serves buckets by path (`<endpoint>/<bucket>/<key>`), also in presigned URLs.
  forcePathStyle: localAws,
  // Otherwise presigned PUT URLs would carry a checksum of an empty body, which the uploader's
  // bytes then fail. The backend computes its own SHA-256 after the upload anyway.
  requestChecksumCalculation: 'WHEN_REQUIRED',
});
// In AWS this never runs (see local-aws-tls.ts).
if (localAws) markRequestsAsTls(s3);

export const lambda = new LambdaClient({});
