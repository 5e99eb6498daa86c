/** The AWS IoT control-plane client (things, certificates, jobs; aws-api/iot.ts), made once per container. */
import { IotApi } from '../aws-api/iot';

export const iot = new IotApi();
