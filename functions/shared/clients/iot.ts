/** The AWS IoT control-plane client (things, certificates, jobs), made once per container. */
import { IoTClient } from '@aws-sdk/client-iot';

export const iot = new IoTClient({});
