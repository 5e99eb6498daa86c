/**
 * The AWS IoT data-plane client (device shadows; aws-api/iot-data.ts), made once per container.
 * Its endpoint is known without asking AWS IoT: IOT_DATA_ENDPOINT if set, else local AWS's
 * AWS_ENDPOINT_URL, else the region's `data-ats` endpoint.
 */
import { IotDataApi } from '../aws-api/iot-data';

export const iotData = new IotDataApi();
