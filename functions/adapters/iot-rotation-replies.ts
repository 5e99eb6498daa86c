import { certificateReplyTopic, type RotationReplyV1 } from '../../contract/certificate-rotation';
import type { RotationReplies } from '../ports/rotation-replies';
import type { IotDataPublishApi } from '../shared/aws-api/iot-data-publish';

/**
 * RotationReplies over the AWS IoT data plane: each reply goes to
 * `edgeops/devices/<id>/certificate/<step>/<verdict>` with QoS 1, which the device policy lets
 * only that device receive.
 */
export class IotRotationReplies implements RotationReplies {
  constructor(private readonly data: IotDataPublishApi) {}

  async send(deviceId: string, reply: RotationReplyV1): Promise<void> {
    await this.data.publish({
      topic: certificateReplyTopic(deviceId, reply.step, reply.verdict),
      payload: reply,
    });
  }
}
