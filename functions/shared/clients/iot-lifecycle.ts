/** The lifecycle flows' AWS IoT clients (aws-api/iot-lifecycle.ts, aws-api/iot-data-publish.ts), made once per container. */
import { IotDataPublishApi } from '../aws-api/iot-data-publish';
import { IotLifecycleApi } from '../aws-api/iot-lifecycle';

export const iotLifecycle = new IotLifecycleApi();
export const iotDataPublish = new IotDataPublishApi();
